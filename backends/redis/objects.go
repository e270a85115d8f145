package redis

import (
	"context"
	"maps"
	"slices"
	"strings"

	"code.cloudfoundry.org/lager/v3/lagerctx"

	"github.com/omnibroker/omnibroker/backends"
)

// ListObjects lists the node's ACL users named as binding logins, then the key prefixes of
// instances that hold at least one key: a prefix is no object of its own, but the part of a
// key's name before its second colon. It walks the keys under "ob:" with SCAN, a page at a time.
func (r *Redis) ListObjects(ctx context.Context, req backends.ListObjectsRequest) (backends.ListObjectsResponse, error) {
	n, err := r.node(req.Node)
	if err != nil {
		return backends.ListObjectsResponse{}, err
	}
	users, err := n.client.Do(ctx, "ACL", "USERS").StringSlice()
	if err != nil {
		return backends.ListObjectsResponse{}, n.fail("list its ACL users", err)
	}
	res := backends.ListObjectsResponse{Objects: backends.Users(users)}
	prefixes := map[string]bool{}
	var cursor uint64
	for {
		keys, next, err := n.client.Scan(ctx, cursor, "ob:*", scanCount).Result()
		if err != nil {
			return backends.ListObjectsResponse{}, n.fail("list the keys under prefix ob:", err)
		}
		for _, k := range keys {
			if i := strings.IndexByte(k[len("ob:"):], ':'); i >= 0 && isKeyPrefix(k[:len("ob:")+i+1]) {
				prefixes[k[:len("ob:")+i+1]] = true
			}
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	for _, p := range slices.Sorted(maps.Keys(prefixes)) {
		res.Objects = append(res.Objects, backends.Object{Kind: backends.ObjectKeyPrefix, Name: p})
	}
	return res, nil
}

func isKeyPrefix(s string) bool {
	return strings.HasSuffix(s, ":") && backends.IsName("ob:", strings.TrimSuffix(s, ":"))
}

// Owned names each binding's ACL user, and the instance's key prefix as one it may lack.
func (r *Redis) Owned(req backends.OwnedRequest) backends.OwnedResponse {
	res := backends.LoginsOwned(req)
	res.Kept = []backends.Object{{Kind: backends.ObjectKeyPrefix, Name: keyPrefix(req.Instance)}}
	return res
}

// RemoveObject deletes an ACL user as Unbind does, or every key under a key prefix as
// Deprovision does.
func (r *Redis) RemoveObject(ctx context.Context, req backends.RemoveObjectRequest) error {
	n, err := r.node(req.Node)
	if err != nil {
		return err
	}
	o, log := req.Object, lagerctx.FromContext(ctx)
	switch {
	case o.Kind == backends.ObjectUser && backends.IsUserName(o.Name):
		if err := n.deleteUser(ctx, log, o.Name); err != nil {
			return err
		}
		return n.saveACL(ctx, log)
	case o.Kind == backends.ObjectKeyPrefix && isKeyPrefix(o.Name):
		return n.deleteKeys(ctx, log, o.Name)
	}
	return backends.NotOurs(n.Name, o)
}
