package broker

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"sync"
	"syscall"
	"time"

	"code.cloudfoundry.org/lager/v3"
)

// TLSConfig returns the API's TLS settings for the certificate and key in the PEM files
// certFile and keyFile: TLS 1.2 or newer, HTTP/1.1 alone (the edge's bounds hold per
// HTTP/1.1 connection: a refused login's connection is closed, a connection carries one
// request at a time), and the certificate re-read whenever the files change, without a
// restart (certReloader). It fails when the pair does not load now.
func TLSConfig(certFile, keyFile string, logger lager.Logger) (*tls.Config, error) {
	reloader := &certReloader{certFile: certFile, keyFile: keyFile, logger: logger.Session("tls")}
	if err := reloader.load(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: reloader.certificate,
	}, nil
}

// certReloader is the certificate of a pair of PEM files, read again when they change:
// cert-manager and Cloud Foundry rotate them in place (Kubernetes swaps a secret volume's
// files with a symlink, which os.Stat follows). Every handshake looks at both files (a stat
// each, no read) and reads them again when the size, modification time or inode of either
// differs from the last read. A new pair that does not load (a key that does not match the
// certificate, a file half-written) leaves the old one in service and is logged once; the
// next change of the files is tried again.
type certReloader struct {
	certFile, keyFile string
	logger            lager.Logger

	mu   sync.Mutex
	cert *tls.Certificate
	// seen is the stamps of the files as last read, whether the pair loaded or not.
	seen [2]fileStamp
}

// fileStamp is what tells that a file has changed.
type fileStamp struct {
	size  int64
	mod   time.Time
	inode uint64
}

func stampOf(path string) (fileStamp, error) {
	info, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	stamp := fileStamp{size: info.Size(), mod: info.ModTime()}
	if sys, ok := info.Sys().(*syscall.Stat_t); ok {
		stamp.inode = sys.Ino
	}
	return stamp, nil
}

func (c *certReloader) stamps() ([2]fileStamp, error) {
	cert, err := stampOf(c.certFile)
	if err != nil {
		return [2]fileStamp{}, err
	}
	key, err := stampOf(c.keyFile)
	return [2]fileStamp{cert, key}, err
}

// load reads the pair, failing when it does not load; it is the first read, at start-up.
func (c *certReloader) load() error {
	stamps, err := c.stamps()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return err
	}
	c.cert, c.seen = &cert, stamps
	c.logLoaded("tls-certificate-loaded")
	return nil
}

// certificate is tls.Config's GetCertificate: the pair in the files now, or the last one
// that loaded.
func (c *certReloader) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stamps, err := c.stamps()
	if err != nil || stamps == c.seen {
		// A file missing for a moment (mid-rotation) keeps the old pair too.
		return c.cert, nil
	}
	c.seen = stamps
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		c.logger.Error("tls-certificate-not-reloaded", err, lager.Data{"kept": "the certificate loaded before"})
		return c.cert, nil
	}
	c.cert = &cert
	c.logLoaded("tls-certificate-reloaded")
	return c.cert, nil
}

func (c *certReloader) logLoaded(event string) {
	data := lager.Data{"cert-file": c.certFile}
	if leaf, err := x509.ParseCertificate(c.cert.Certificate[0]); err == nil {
		data["subject"] = leaf.Subject.String()
		data["serial"] = leaf.SerialNumber.Text(16)
		data["not-after"] = leaf.NotAfter.UTC().Format(time.RFC3339)
	}
	c.logger.Info(event, data)
}
