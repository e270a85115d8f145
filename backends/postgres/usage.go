package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/omnibroker/omnibroker/backends"
)

const selectDatabaseSize = `
SELECT pg_database_size(datname)
FROM pg_database
WHERE datname = $1`

// Usage reports the size of the instance's database on disk, as pg_database_size counts it.
func (p *Postgres) Usage(ctx context.Context, req backends.UsageRequest) (backends.UsageResponse, error) {
	n, err := p.nodes.Get(req.Instance.Node)
	if err != nil {
		return backends.UsageResponse{}, err
	}
	db := databaseName(req.Instance)
	var size int64
	err = n.DB.QueryRowContext(ctx, selectDatabaseSize, db).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		return backends.UsageResponse{}, backends.Permanent(fmt.Sprintf("database %s is not on node %s", db, n.Name), nil)
	}
	if err != nil {
		return backends.UsageResponse{}, n.Fail("read the size of database "+db, err)
	}
	return backends.UsageResponse{Figures: []backends.Figure{{Name: "database size", Value: size, Unit: "bytes"}}}, nil
}
