package testkit

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	_ "github.com/lib/pq" // the postgres driver of PostgresAdmin and the databases
	rabbithole "github.com/michaelklishin/rabbit-hole/v3"
	goredis "github.com/redis/go-redis/v9"
)

// adminTimeout bounds the first answer of a server.
const adminTimeout = 30 * time.Second

// PostgresAdmin connects to s (State or Postgres, or a private cluster's Server) as its admin,
// checks that it answers, and closes the pool at cleanup.
func PostgresAdmin(t TB, s Server) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", s.URL())
	if err != nil {
		t.Fatalf("%s", s.missing())
	}
	t.Cleanup(func() { _ = db.Close() })
	mustAnswer(t, s, db.PingContext)
	return db
}

// MySQLConfig reads a mysql://user:password@host:port/database URL (the admin's, or a
// binding's) as an application would, into a go-sql-driver configuration with the driver's
// logger silenced (it would log every connection a broker or backend ends). Parameters such as
// reconnect=true belong to other clients (Rails) and are left out. The error quotes no URL.
func MySQLConfig(rawURL string) (*gomysql.Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errNotURL
	}
	cfg := gomysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	cfg.Logger = &gomysql.NopLogger{}
	return cfg, nil
}

// OpenMySQL opens a pool on cfg; the logger is silenced as in MySQLConfig. It does not connect.
func OpenMySQL(cfg *gomysql.Config) (*sql.DB, error) {
	cfg.Logger = &gomysql.NopLogger{}
	connector, err := gomysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(connector), nil
}

// MySQLAdmin connects to the MariaDB server s (MySQL) as its admin, checks that it answers,
// and closes the pool at cleanup.
func MySQLAdmin(t TB, s Server) *sql.DB {
	t.Helper()
	cfg, err := MySQLConfig(s.URL())
	if err != nil {
		t.Fatalf("%s is not a URL", s.Env)
	}
	db, err := OpenMySQL(cfg)
	if err != nil {
		t.Fatalf("%s: %v", s.missing(), err)
	}
	t.Cleanup(func() { _ = db.Close() })
	mustAnswer(t, s, db.PingContext)
	return db
}

// RedisAdmin connects to the Redis server s (Redis, or a private server's Server) as its admin,
// checks that it answers, and closes the client at cleanup.
func RedisAdmin(t TB, s Server) *goredis.Client {
	t.Helper()
	opts, err := goredis.ParseURL(s.URL())
	if err != nil {
		t.Fatalf("%s is not a redis:// URL", s.Env)
	}
	c := goredis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	mustAnswer(t, s, func(ctx context.Context) error { return c.Ping(ctx).Err() })
	return c
}

// RabbitMQAdmin is a client of the management API of s (RabbitMQ), logged in as its admin; it
// fails unless the API answers.
func RabbitMQAdmin(t TB, s Server) *rabbithole.Client {
	t.Helper()
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatalf("%s is not a URL", s.Env)
	}
	password, _ := u.User.Password()
	c, err := rabbithole.NewClient(u.Scheme+"://"+u.Host, u.User.Username(), password)
	if err != nil {
		t.Fatalf("%s: %v", s.missing(), err)
	}
	c.SetTimeout(10 * time.Second)
	mustAnswer(t, s, func(context.Context) error { _, err := c.Whoami(); return err })
	return c
}

// Adapter is what OpenAdapter needs of a backend adapter: a check that one of its nodes
// answers, and Close.
type Adapter interface {
	Ping(ctx context.Context, node string) error
	Close() error
}

// OpenAdapter opens an adapter with open (its package's New) on servers, closes it at
// cleanup, and fails unless node answers. The kit knows neither the server type S nor the
// adapter type A, since it imports nothing of ours; New's errors quote no URL.
func OpenAdapter[S any, A Adapter](t TB, open func([]S) (A, error), node string, servers ...S) A {
	t.Helper()
	a, err := open(servers)
	if err != nil {
		t.Fatalf("open the adapter: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	mustAnswer(t, Server{What: "node " + node}, func(ctx context.Context) error { return a.Ping(ctx, node) })
	return a
}

// mustAnswer fails t unless ping succeeds within adminTimeout.
func mustAnswer(t TB, s Server, ping func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := ping(ctx); err != nil {
		t.Fatalf("%s: %v", s.missing(), err)
	}
}
