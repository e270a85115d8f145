package store

import (
	"context"
	"fmt"

	"github.com/lib/pq"
)

// PublicConnect is what ClosePublicConnect found and did.
type PublicConnect struct {
	// Database is the state database's name.
	Database string
	// Revoked is true when PUBLIC could connect and no longer can.
	Revoked bool
	// Open is true when PUBLIC can still connect: the broker's role neither owns the database
	// (itself or through a role it inherits from) nor is a superuser, so it may not revoke it.
	Open bool
}

const selectPublicConnect = `
SELECT current_database(),
    has_database_privilege('public', current_database(), 'CONNECT'),
    pg_has_role(current_user, d.datdba, 'USAGE')
FROM pg_database d
WHERE d.datname = current_database()`

// ClosePublicConnect revokes PUBLIC's CONNECT on the state database, so that no role the
// broker does not grant it to may connect: above all the LOGIN roles a postgres backend makes
// for bindings when the state database shares their server, which could otherwise read what
// the broker stores there and send notifications on its channel. The broker's own role keeps
// connecting as the owner (or a superuser). A role that may not revoke it changes nothing, and
// the result says so (Open) for a warning in the log. It is idempotent.
func (s *Store) ClosePublicConnect(ctx context.Context) (PublicConnect, error) {
	var (
		res    PublicConnect
		public bool
		owns   bool
	)
	if err := s.db.QueryRowContext(ctx, selectPublicConnect).Scan(&res.Database, &public, &owns); err != nil {
		return PublicConnect{}, fmt.Errorf("look up PUBLIC's CONNECT on the state database: %w", err)
	}
	switch {
	case !public:
		return res, nil
	case !owns:
		res.Open = true
		return res, nil
	}
	if _, err := s.db.ExecContext(ctx, `REVOKE CONNECT ON DATABASE `+pq.QuoteIdentifier(res.Database)+` FROM PUBLIC`); err != nil {
		return PublicConnect{}, fmt.Errorf("revoke PUBLIC's CONNECT on the state database: %w", err)
	}
	res.Revoked = true
	return res, nil
}
