package testkit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	goredis "github.com/redis/go-redis/v9"
)

// PEM is the CA's certificate as PEM, as a node's ca_file holds it.
func (ca *CA) PEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
}

// WriteFile writes the CA's certificate as PEM to path, readable by anyone (a CA is public).
func (ca *CA) WriteFile(t TB, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(ca.PEM()), 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// StartPostgresTLS starts a private cluster, as StartPostgres does, that serves TLS with a
// certificate for 127.0.0.1 and localhost that ca signed, and takes TCP connections over TLS
// only: the postgres superuser without a password, every other role with its SCRAM password.
// Its Server's URL verifies the server (sslmode=verify-full) with CAFile.
func StartPostgresTLS(t TB, ca *CA) *PostgresCluster {
	t.Helper()
	return startPostgres(t, ca)
}

// serveTLS gives the cluster, initialised but not started, a certificate that ca signed, the
// client authentication of StartPostgresTLS and a URL that verifies the server.
func (c *PostgresCluster) serveTLS(t TB, ca *CA) {
	t.Helper()
	cert, key := filepath.Join(c.Dir, "server.crt"), filepath.Join(c.Dir, "server.key")
	c.CAFile = filepath.Join(c.Dir, "ca.pem")
	ca.Issue(t, cert, key)
	ca.WriteFile(t, c.CAFile)
	for _, f := range []string{cert, key} {
		if err := giveToPostgres(f); err != nil {
			t.Fatalf("%v", err)
		}
	}
	hba := "local all all trust\n" +
		"hostssl all postgres 127.0.0.1/32 trust\n" +
		"hostssl all all 127.0.0.1/32 scram-sha-256\n"
	// initdb made the file, as the postgres user; writing it keeps its owner.
	if err := os.WriteFile(filepath.Join(c.dataDir(), "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatalf("write pg_hba.conf: %v", err)
	}
	c.sslOpts = fmt.Sprintf(" -c ssl=on -c ssl_cert_file=%s -c ssl_key_file=%s", cert, key)
	c.Server.Default = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=verify-full&sslrootcert=%s",
		c.Port, url.QueryEscape(c.CAFile))
}

// StartRedisTLS runs redis-server, as StartRedis does with extra, on a free port that speaks
// TLS only (no plain port), with a certificate for 127.0.0.1 and localhost that ca signed; it
// asks clients for no certificate. Its Server's URL is rediss://.
func StartRedisTLS(t TB, ca *CA, extra ...string) *RedisServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "omnibroker-redis-tls-")
	if err != nil {
		t.Fatalf("make the certificates' directory: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	cert, key, caFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), filepath.Join(dir, "ca.pem")
	ca.Issue(t, cert, key)
	ca.WriteFile(t, caFile)
	port := FreePort(t)
	args := append([]string{"--port", "0", "--tls-port", strconv.Itoa(port),
		"--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", caFile, "--tls-auth-clients", "no"}, extra...)
	r := startRedis(t, port, &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}, args)
	r.CAFile = caFile
	return r
}

// PostgresTLSLogin logs in with uri as an application handed the CA certificates caPEM with
// it would (written to a file of its own, named as sslrootcert), and returns the pool, closed
// at cleanup, or the error of logging in. A uri that does not parse fails t, without quoting it.
func PostgresTLSLogin(ctx context.Context, t TB, uri, caPEM string) (*sql.DB, error) {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatalf("the uri is not a postgres URL")
	}
	f, err := os.CreateTemp("", "omnibroker-app-ca-*.pem")
	if err != nil {
		t.Fatalf("make the application's CA file: %v", err)
	}
	t.Cleanup(func() { _ = os.Remove(f.Name()) })
	if _, err := f.WriteString(caPEM); err != nil {
		t.Fatalf("write the application's CA file: %v", err)
	}
	_ = f.Close()
	q := u.Query()
	q.Set("sslrootcert", f.Name())
	u.RawQuery = q.Encode()
	return PostgresLogin(ctx, t, u.String())
}

// RedisTLSLogin logs in with uri (rediss://) as RedisLogin does, trusting the CA
// certificates caPEM alone, as an application handed them with it would.
func RedisTLSLogin(ctx context.Context, t TB, uri, caPEM string) (*goredis.Client, error) {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(caPEM)) {
		t.Fatalf("the certificates hold no PEM certificate")
	}
	return redisLogin(ctx, t, uri, pool)
}
