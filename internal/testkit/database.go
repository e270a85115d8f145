package testkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"
	"github.com/onsi/ginkgo/v2"
)

var errNotURL = errors.New("not a URL")

// Database is a database of its own on a PostgreSQL server.
type Database struct {
	Name string
	URL  string
}

// NewDatabase creates an empty database on the PostgreSQL server at serverURL, named prefix,
// this ginkgo process's number and a random suffix, and drops it (WITH FORCE) at cleanup.
func NewDatabase(t TB, serverURL, prefix string) Database {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := DatabaseName(prefix)
	u, err := CreateDatabase(ctx, serverURL, name)
	if err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := DropDatabase(ctx, serverURL, name); err != nil {
			t.Fatalf("drop database %s: %v", name, err)
		}
	})
	return Database{Name: name, URL: u}
}

// DatabaseName is prefix, this ginkgo process's number (1 outside ginkgo) and a random
// suffix: a name no other process or spec picks.
func DatabaseName(prefix string) string {
	return fmt.Sprintf("%s_%d_%s", prefix, ginkgo.GinkgoParallelProcess(), randomSuffix())
}

func randomSuffix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// CreateDatabase creates database name on the PostgreSQL server at serverURL and returns the
// URL that reaches it. A server that does not answer is an error, which quotes no URL.
func CreateDatabase(ctx context.Context, serverURL, name string) (string, error) {
	u, err := WithPath(serverURL, name)
	if err != nil {
		return "", err
	}
	err = onServer(ctx, serverURL, "CREATE DATABASE "+pq.QuoteIdentifier(name))
	if err != nil {
		return "", err
	}
	return u, nil
}

// DropDatabase drops database name on the server at serverURL, closing its connections; a
// database that is gone already is no error.
func DropDatabase(ctx context.Context, serverURL, name string) error {
	return onServer(ctx, serverURL, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)")
}

func onServer(ctx context.Context, serverURL, stmt string) error {
	db, err := sql.Open("postgres", serverURL)
	if err != nil {
		return errNotURL
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// Querier is what QueryStrings reads through: a *sql.DB, *sql.Conn or *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// QueryStrings runs query, which returns one text column, and returns its values in the order
// of the rows.
func QueryStrings(ctx context.Context, db Querier, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var values []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		values = append(values, v)
	}
	return values, rows.Err()
}
