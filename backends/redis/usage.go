package redis

import (
	"context"

	"github.com/omnibroker/omnibroker/backends"
)

// Usage counts the keys under the instance's prefix, a page of SCAN at a time (DBSIZE would
// count every tenant's). A prefix without keys is an empty instance, not a gone one.
func (r *Redis) Usage(ctx context.Context, req backends.UsageRequest) (backends.UsageResponse, error) {
	n, err := r.node(req.Instance.Node)
	if err != nil {
		return backends.UsageResponse{}, err
	}
	prefix := keyPrefix(req.Instance)
	var cursor uint64
	var keys int64
	for {
		page, next, err := n.client.Scan(ctx, cursor, prefix+"*", scanCount).Result()
		if err != nil {
			return backends.UsageResponse{}, n.fail("count the keys under prefix "+prefix, err)
		}
		keys += int64(len(page))
		if next == 0 {
			break
		}
		cursor = next
	}
	return backends.UsageResponse{Figures: []backends.Figure{{Name: "keys", Value: keys}}}, nil
}
