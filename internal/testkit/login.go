package testkit

import (
	"context"
	"crypto/x509"
	"database/sql"
	"io"
	"net/http"

	gomysql "github.com/go-sql-driver/mysql"
	goredis "github.com/redis/go-redis/v9"
)

// RedisLogin logs in with uri (redis://user:password@host:port) as an application would, with
// no retries, so that a closed connection shows as an error rather than a silent reconnect. It
// returns the client, closed at cleanup, or the error of logging in. A uri that does not parse
// fails t, without quoting it.
func RedisLogin(ctx context.Context, t TB, uri string) (*goredis.Client, error) {
	t.Helper()
	return redisLogin(ctx, t, uri, nil)
}

// redisLogin is RedisLogin, trusting roots alone when they are set (and the uri must then be
// rediss://).
func redisLogin(ctx context.Context, t TB, uri string, roots *x509.CertPool) (*goredis.Client, error) {
	t.Helper()
	opts, err := goredis.ParseURL(uri)
	if err != nil {
		t.Fatalf("the uri is not a redis:// URL")
	}
	if roots != nil {
		if opts.TLSConfig == nil {
			t.Fatalf("the uri is not a rediss:// URL")
		}
		opts.TLSConfig.RootCAs = roots
	}
	opts.MaxRetries = -1
	c := goredis.NewClient(opts)
	return loggedIn(t, c, c.Ping(ctx).Err())
}

// PostgresLogin logs in with uri as an application would and returns the pool, closed at
// cleanup, or the error of logging in.
func PostgresLogin(ctx context.Context, t TB, uri string) (*sql.DB, error) {
	t.Helper()
	db, err := sql.Open("postgres", uri)
	if err != nil {
		t.Fatalf("the uri is not a postgres URL")
	}
	return loggedIn(t, db, db.PingContext(ctx))
}

// MySQLLogin logs in with cfg as an application would (the driver's logger silenced, as in
// OpenMySQL) and returns the pool, closed at cleanup, or the error of logging in.
func MySQLLogin(ctx context.Context, t TB, cfg *gomysql.Config) (*sql.DB, error) {
	t.Helper()
	db, err := OpenMySQL(cfg)
	if err != nil {
		t.Fatalf("the MySQL configuration does not make a connector: %v", err)
	}
	return loggedIn(t, db, db.PingContext(ctx))
}

// RedisKeysUnder lists, with SCAN, the keys of the server c speaks to whose names start with
// prefix.
func RedisKeysUnder(ctx context.Context, c *goredis.Client, prefix string) ([]string, error) {
	var keys []string
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	return keys, iter.Err()
}

// loggedIn is a login's outcome: c, closed at cleanup, when the first call succeeded (err is
// nil), else err, with c closed.
func loggedIn[C io.Closer](t TB, c C, err error) (C, error) {
	if err != nil {
		_ = c.Close()
		var none C
		return none, err
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, nil
}

// ManagementStatus asks RabbitMQ's management API at uri (an http_api_uri, which carries the
// login) for path, as a client of the API would, and returns the answer's status. A uri that
// does not make a request fails t, without quoting it.
func ManagementStatus(ctx context.Context, t TB, uri, path string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri+path, nil)
	if err != nil {
		t.Fatalf("the http_api_uri does not make a request")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the management API did not answer")
	}
	_ = res.Body.Close()
	return res.StatusCode
}
