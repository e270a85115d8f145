package mysql

import (
	"context"
	"fmt"

	"github.com/omnibroker/omnibroker/backends"
)

// selectDatabaseSize counts the schema (0 when it is gone) and the bytes of its tables' data
// and indexes, as information_schema reports them.
const selectDatabaseSize = `
SELECT COUNT(DISTINCT s.SCHEMA_NAME), COALESCE(SUM(t.DATA_LENGTH + t.INDEX_LENGTH), 0)
FROM information_schema.SCHEMATA s
LEFT JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.SCHEMA_NAME
WHERE s.SCHEMA_NAME = ?`

// Usage reports the size of the instance's database: its tables' data and indexes.
func (m *MySQL) Usage(ctx context.Context, req backends.UsageRequest) (backends.UsageResponse, error) {
	n, err := m.nodes.Get(req.Instance.Node)
	if err != nil {
		return backends.UsageResponse{}, err
	}
	db := databaseName(req.Instance)
	var schemas, size int64
	if err := n.DB.QueryRowContext(ctx, selectDatabaseSize, db).Scan(&schemas, &size); err != nil {
		return backends.UsageResponse{}, n.Fail("read the size of database "+db, err)
	}
	if schemas == 0 {
		return backends.UsageResponse{}, backends.Permanent(fmt.Sprintf("database %s is not on node %s", db, n.Name), nil)
	}
	return backends.UsageResponse{Figures: []backends.Figure{{Name: "database size", Value: size, Unit: "bytes"}}}, nil
}
