package postgres_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/postgres"
)

// BenchmarkBindUnbind is one binding's life on a provisioned instance: Bind (SCRAM verifier,
// CREATE ROLE … IN ROLE owner) then Unbind (terminate sessions, REASSIGN OWNED, DROP OWNED,
// DROP ROLE). The suite's BeforeSuite does not run under `go test -run '^$' -bench`, so the
// benchmark sets up its own backend and instance, and deprovisions it when it ends.
func BenchmarkBindUnbind(b *testing.B) {
	nodeURL := os.Getenv("OMNIBROKER_TEST_POSTGRES_URL")
	if nodeURL == "" {
		nodeURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	pg, err := postgres.New([]backends.Server{{Name: "pg-local", AdminURL: nodeURL}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = pg.Close() })

	inst := backends.Instance{ID: uuid.NewString(), Node: "pg-local", Plan: "small", Parameters: map[string]any{}}
	// Registered before Provision, so a provision that fails half-way is cleaned up too.
	b.Cleanup(func() { benchDeprovision(b, pg, nodeURL, inst) })
	if err := pg.Provision(b.Context(), inst); err != nil {
		b.Fatal(err)
	}

	ctx := b.Context()
	for b.Loop() {
		password, err := backends.NewPassword()
		if err != nil {
			b.Fatal(err)
		}
		bnd := backends.Binding{ID: uuid.NewString(), Password: password}
		if _, err := pg.Bind(ctx, inst, bnd); err != nil {
			b.Fatal(err)
		}
		if err := pg.Unbind(ctx, inst, bnd); err != nil {
			b.Fatal(err)
		}
	}
}

// benchDeprovision removes the instance and fails the benchmark if its database, its owner
// role or any binding role (a member of the owner) is still there.
func benchDeprovision(b *testing.B, pg *postgres.Postgres, nodeURL string, inst backends.Instance) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sql.Open("postgres", nodeURL)
	if err != nil {
		b.Errorf("open node connection: %v", err)
		return
	}
	defer db.Close()

	owner := backends.Name("ob_o_", inst.ID)
	var members int
	err = db.QueryRowContext(ctx, `
SELECT count(*)
FROM pg_auth_members m
JOIN pg_roles r ON r.oid = m.roleid
JOIN pg_roles member ON member.oid = m.member
WHERE r.rolname = $1
    AND member.rolname LIKE 'ob\_b\_%'`, owner).Scan(&members)
	if err != nil {
		b.Errorf("count binding roles: %v", err)
	} else if members > 0 {
		b.Errorf("%d binding roles outlived Unbind", members)
	}

	if err := pg.Deprovision(ctx, inst); err != nil {
		b.Errorf("deprovision: %v", err)
	}
	var left []string
	rows, err := db.QueryContext(ctx, `
SELECT datname FROM pg_database WHERE datname = $1
UNION ALL
SELECT rolname FROM pg_roles WHERE rolname = $2`, backends.Name("ob_", inst.ID), owner)
	if err != nil {
		b.Errorf("look for objects left on the node: %v", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			b.Errorf("scan: %v", err)
			return
		}
		left = append(left, name)
	}
	if err := rows.Err(); err != nil {
		b.Errorf("look for objects left on the node: %v", err)
	}
	if len(left) > 0 {
		b.Errorf("left on the node: %v", left)
	}
}
