package backends

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// The causes of a TLS connection to a node that failed, which TransportCause recognises.
const (
	UntrustedCertificate Cause = "node %[1]s presented a TLS certificate the broker does not trust"
	WrongHostCertificate Cause = "node %[1]s presented a TLS certificate for another host name"
	NotTLS               Cause = "node %[1]s does not speak TLS"
)

// CertificatesKey is the credentials entry that carries, as PEM, the CA certificates that an
// application verifies a node's TLS certificate with: the servicebinding.io well-known entry
// for the certificates of TLS connections.
const CertificatesKey = "certificates"

// CA is the set of CA certificates a node's TLS certificate is signed by, from the node's
// ca_file: the broker verifies its admin connections with Pool, and applications get PEM.
// The zero CA (no ca_file) leaves verification to the system's roots and hands nothing out.
type CA struct {
	File string
	PEM  string
	Pool *x509.CertPool
}

// ReadCA reads the CA file of server cfg, a node of kind, which must hold at least one PEM
// certificate; a server without CAFile has the zero CA. Its error names the node and the
// file, which carries no secret.
func ReadCA(kind string, cfg Server) (CA, error) {
	if cfg.CAFile == "" {
		return CA{}, nil
	}
	raw, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return CA{}, fmt.Errorf("%s node %q: ca_file %s cannot be read: %w", kind, cfg.Name, cfg.CAFile, errors.Unwrap(err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		return CA{}, fmt.Errorf("%s node %q: ca_file %s holds no PEM certificate", kind, cfg.Name, cfg.CAFile)
	}
	return CA{File: cfg.CAFile, PEM: string(raw), Pool: pool}, nil
}

// NeedsTLS is the error of server cfg, a node of kind, that sets a ca_file although its admin
// URL does not ask for TLS; how would says how it would (such as "rediss://").
func NeedsTLS(kind string, cfg Server, how string) error {
	return fmt.Errorf("%s node %q sets ca_file, but its admin URL does not ask for TLS (%s)", kind, cfg.Name, how)
}

// AddCertificates puts ca's PEM into c as CertificatesKey, when there is one.
func (ca CA) AddCertificates(c Credentials) {
	if ca.PEM != "" {
		c[CertificatesKey] = ca.PEM
	}
}

// tlsCause is the cause of err when a TLS handshake failed, and "" otherwise. It is looked at
// before the other transport failures, which a handshake's error may also wrap.
func tlsCause(err error) Cause {
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return WrongHostCertificate
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return UntrustedCertificate
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return UntrustedCertificate
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return UntrustedCertificate
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return NotTLS
	}
	return ""
}
