package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerctx"

	"github.com/omnibroker/omnibroker/backends"
)

// keyPrefix is the prefix of the instance's keys and channels. It is hex between colons, free
// of the glob characters that ACL patterns and SCAN MATCH would read as wildcards.
func keyPrefix(inst backends.Instance) string { return backends.Name("ob:", inst.ID) + ":" }

// Provision checks that the instance's node answers as a primary, runs Redis 7.0 or later,
// lets the broker's admin user manage ACL users, and has no ACL user (the default user above
// all) that anyone may log in as without a password. It creates nothing: the key prefix is the
// instance, and it comes into use when a binding writes under it. A node too old for the ACL
// rules of Bind is a permanent error.
func (r *Redis) Provision(ctx context.Context, req backends.ProvisionRequest) (backends.ProvisionResponse, error) {
	inst := req.Instance
	n, err := r.node(inst.Node)
	if err != nil {
		return backends.ProvisionResponse{}, err
	}
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"key-prefix": keyPrefix(inst)})

	return backends.ProvisionResponse{}, n.checkServes(ctx, log)
}

// Update sets the ACL user of every binding in req.Bindings anew, with its password and the
// plan's denied_commands, and saves the ACL once; the users' clients stay connected. A user
// the node lost in a restart is made again, as a restore would.
func (r *Redis) Update(ctx context.Context, req backends.UpdateRequest) (backends.UpdateResponse, error) {
	inst := req.Instance
	n, err := r.node(inst.Node)
	if err != nil {
		return backends.UpdateResponse{}, err
	}
	denied, err := planDenied(inst.Plan, inst.PlanConfig)
	if err != nil {
		return backends.UpdateResponse{}, err
	}
	prefix := keyPrefix(inst)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"key-prefix": prefix})
	if len(req.Bindings) == 0 {
		return backends.UpdateResponse{}, nil
	}
	if err := n.checkDefaultClosed(ctx); err != nil {
		return backends.UpdateResponse{}, err
	}
	for _, b := range req.Bindings {
		if b.Password == "" {
			return backends.UpdateResponse{}, errNoPassword()
		}
		if err := n.setUser(ctx, log, prefix, backends.UserName(inst.ID, b), b.Password, denied); err != nil {
			return backends.UpdateResponse{}, err
		}
	}
	return backends.UpdateResponse{}, n.saveACL(ctx, log)
}

// Deprovision deletes the ACL users of the instance's recorded bindings, which ends their
// clients, then every key under its prefix. The users go first, so that no one writes behind
// the scan and a failure half-way leaves no way in. What is already gone counts as done, so a
// re-run after a crash finishes the job. No other user is touched, whatever its name.
func (r *Redis) Deprovision(ctx context.Context, req backends.DeprovisionRequest) error {
	inst := req.Instance
	n, err := r.node(inst.Node)
	if err != nil {
		return err
	}
	prefix := keyPrefix(inst)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"key-prefix": prefix})

	for _, b := range req.Bindings {
		if err := n.deleteUser(ctx, log, backends.UserName(inst.ID, b)); err != nil {
			return err
		}
	}
	if len(req.Bindings) > 0 {
		if err := n.saveACL(ctx, log); err != nil {
			return err
		}
	}
	return n.deleteKeys(ctx, log, prefix)
}

// scanCount is the COUNT hint of each SCAN, and so about the number of keys each UNLINK frees.
const scanCount = 500

// deleteKeys unlinks every key under prefix, a page of SCAN at a time: KEYS would block the
// node for as long as it takes to walk the whole keyspace.
func (n *node) deleteKeys(ctx context.Context, log lager.Logger, prefix string) error {
	var (
		cursor  uint64
		deleted int64
	)
	for {
		keys, next, err := n.client.Scan(ctx, cursor, prefix+"*", scanCount).Result()
		if err != nil {
			return n.fail("list the keys under prefix "+prefix, err)
		}
		if len(keys) > 0 {
			count, err := n.client.Unlink(ctx, keys...).Result()
			if err != nil {
				return n.fail("delete the keys under prefix "+prefix, err)
			}
			deleted += count
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	log.Info("keys-deleted", lager.Data{"keys": deleted})
	return nil
}

// checkServes checks what Provision promises: a primary running Redis 7.0 or later, on which
// the admin user may list (and so manage) ACL users, and no user lets anyone in without a
// password.
func (n *node) checkServes(ctx context.Context, log lager.Logger) error {
	info, err := n.client.Info(ctx, "server", "replication").Result()
	if err != nil {
		return n.fail("report its version and role", err)
	}
	version := infoField(info, "redis_version")
	if !supported(version) {
		return backends.Permanent(
			fmt.Sprintf("node %s runs a Redis older than 7.0, which the redis backend needs for its ACL rules", n.Name),
			fmt.Errorf("redis version %q", version))
	}
	if role := infoField(info, "role"); role != "master" {
		return backends.Transient(backends.ReadOnlyReplica.Sentence(n.Name, ""),
			fmt.Errorf("node role %q", role))
	}
	// Listing the users also shows that the admin user may manage them.
	if err := n.checkNoOpenUser(ctx); err != nil {
		return err
	}
	log.Info("node-checked", lager.Data{"redis-version": version})
	return nil
}

// infoField returns the value of field in the text INFO answers, or "".
func infoField(info, field string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// supported reports whether version (such as "7.0.15") is 7.0 or later. 7.0 is the first that
// can deny a subcommand and knows FUNCTION, which aclRules name; channel patterns came in 6.2.
func supported(version string) bool {
	major, _, _ := strings.Cut(version, ".")
	n, err := strconv.Atoi(major)
	return err == nil && n >= 7
}
