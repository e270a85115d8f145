package testkit

import (
	"context"
	"database/sql"
	"net/url"
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
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("%s: %v", s.missing(), err)
	}
	return db
}

// MySQLConfig is the go-sql-driver configuration of a mysql://user:password@host:port/ admin
// URL, without a database, and with the driver's logger silenced (it would log every
// connection a spec's backend ends).
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
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("%s: %v", s.missing(), err)
	}
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
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("%s: %v", s.missing(), err)
	}
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
	if _, err := c.Whoami(); err != nil {
		t.Fatalf("%s: %v", s.missing(), err)
	}
	return c
}
