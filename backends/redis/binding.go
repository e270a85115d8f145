package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerctx"
	goredis "github.com/redis/go-redis/v9"

	"github.com/omnibroker/omnibroker/backends"
)

// deniedCommands reach beyond the instance's prefix, which key and channel patterns cannot
// stop: to other instances' key and channel names (SCAN and RANDOMKEY walk every key, PUBSUB
// lists every channel and counts its subscribers, CLIENT TRACKING BCAST reports changes under
// any prefix, CLUSTER GETKEYSINSLOT and COUNTKEYSINSLOT list and count the keys of a slot), to
// what other instances' clients do (CLIENT LIST and KILL, MONITOR, SLOWLOG, which keeps their
// commands with arguments, LATENCY), to numbers about the whole node that tell how much other
// instances hold (DBSIZE, INFO's keyspace section, every MEMORY subcommand but USAGE, which
// checks its key), to the whole data set (SYNC and PSYNC, which a replica uses), to what all
// instances share (FUNCTION libraries and FCALL of them, the script cache, whose SCRIPT EXISTS
// tells one instance which scripts another loaded, a script debugger that blocks the node), to
// other databases, which Deprovision does not clean (SELECT, MOVE, COPY with DB), or to the
// node itself. Redis 7.0 puts several of them, INFO included, in @dangerous or @admin already;
// naming them keeps them denied should a release move a command to another category. What
// stays allowed tells an application only of itself: ACL WHOAMI, CLIENT ID, INFO and SETNAME
// of its own connection, SCRIPT LOAD (client libraries load their scripts) and EVALSHA, whose
// NOSCRIPT answer says whether anyone loaded a script whose text the caller already has.
var deniedCommands = []string{
	"-flushall", "-flushdb", "-swapdb", "-keys", "-scan", "-randomkey",
	"-select", "-move", "-copy", "-migrate", "-sync", "-psync",
	"-dbsize", "-info", "-memory", "+memory|usage",
	"-config", "-debug", "-shutdown", "-monitor", "-slowlog", "-latency",
	"-acl", "+acl|whoami",
	"-pubsub", "-client|tracking", "-client|list", "-client|kill",
	"-client|pause", "-client|unpause", "-client|unblock", "-client|no-evict",
	"-cluster|getkeysinslot", "-cluster|countkeysinslot",
	"-function", "-fcall", "-fcall_ro", "-script", "+script|load",
}

// aclRules are the whole definition of a binding's user: ACL SETUSER applies them after
// reset, so the user ends up the same whatever it was before. The password is given as its
// SHA-256, the form Redis keeps, so the clear password never reaches the node. planDenied are
// the plan's own denials, which come last.
func aclRules(prefix, password string, planDenied []string) []string {
	sum := sha256.Sum256([]byte(password))
	rules := []string{
		// reset grants every channel when the node's acl-pubsub-default is allchannels.
		"reset", "resetchannels", "on", "#" + hex.EncodeToString(sum[:]),
		"~" + prefix + "*", "&" + prefix + "*",
		"+@all", "-@dangerous", "-@admin",
	}
	rules = append(rules, deniedCommands...)
	return append(rules, planDenied...)
}

// Bind sets the binding's ACL user, with b.Password, on the instance's node: it may use the
// keys and channels under the instance's prefix, and every command but the dangerous ones and
// deniedCommands. It refuses, for a retry, a node whose default user lets anyone in without a
// password. A retry sets exactly the same user and leaves its clients connected, and so
// does a re-run after the node lost its users in a restart without an aclfile, which is how
// the broker restores them.
func (r *Redis) Bind(ctx context.Context, req backends.BindRequest) (backends.BindResponse, error) {
	inst, b := req.Instance, req.Binding
	n, err := r.node(inst.Node)
	if err != nil {
		return backends.BindResponse{}, err
	}
	if b.Password == "" {
		return backends.BindResponse{}, errNoPassword()
	}
	denied, err := planDenied(inst.Plan, inst.PlanConfig)
	if err != nil {
		return backends.BindResponse{}, err
	}
	prefix, user := keyPrefix(inst), backends.UserName(inst.ID, b)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"key-prefix": prefix, "user": user})

	// A node anyone can log in to would make the user's confinement pointless.
	if err := n.checkDefaultClosed(ctx); err != nil {
		return backends.BindResponse{}, err
	}
	if err := n.setUser(ctx, log, prefix, user, b.Password, denied); err != nil {
		return backends.BindResponse{}, err
	}
	if err := n.saveACL(ctx, log); err != nil {
		return backends.BindResponse{}, err
	}
	return backends.BindResponse{Credentials: n.credentials(prefix, user, b.Password)}, nil
}

// errNoPassword refuses a binding without a password, whose ACL user anyone could log in as.
func errNoPassword() error {
	return backends.Permanent("the binding has no password, and Redis would let anyone in as its user",
		errors.New("empty binding password"))
}

// setUser sets user's ACL rules whole (aclRules).
func (n *node) setUser(ctx context.Context, log lager.Logger, prefix, user, password string, denied []string) error {
	if err := n.client.ACLSetUser(ctx, user, aclRules(prefix, password, denied)...).Err(); err != nil {
		return n.fail("set up ACL user "+user, err)
	}
	log.Info("user-set", lager.Data{"user": user})
	return nil
}

// CheckBinding reports whether the binding's ACL user is missing from the instance's node, as
// after a restart without an aclfile; Bind with the same password then restores it. It only
// reads, and logs nothing: the broker runs it for every live binding on every sweep, and logs
// what it finds.
func (r *Redis) CheckBinding(ctx context.Context, req backends.CheckBindingRequest) (backends.CheckBindingResponse, error) {
	inst, b := req.Instance, req.Binding
	n, err := r.node(inst.Node)
	if err != nil {
		return backends.CheckBindingResponse{}, err
	}
	user := backends.UserName(inst.ID, b)
	// ACL GETUSER answers nil for a user that does not exist.
	err = n.client.Do(ctx, "ACL", "GETUSER", user).Err()
	switch {
	case errors.Is(err, goredis.Nil):
		return backends.CheckBindingResponse{Lost: true}, nil
	case err != nil:
		return backends.CheckBindingResponse{}, n.fail("look up ACL user "+user, err)
	}
	return backends.CheckBindingResponse{}, nil
}

// Unbind ends the clients of the binding's ACL user and deletes the user. A user already gone
// counts as unbound.
func (r *Redis) Unbind(ctx context.Context, req backends.UnbindRequest) error {
	inst, b := req.Instance, req.Binding
	n, err := r.node(inst.Node)
	if err != nil {
		return err
	}
	user := backends.UserName(inst.ID, b)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"user": user})

	if err := n.deleteUser(ctx, log, user); err != nil {
		return err
	}
	return n.saveACL(ctx, log)
}

// deleteUser ends the clients logged in as user, then deletes user. ACL DELUSER ends them as
// well, and a client that logs in between the two is ended by it; killing them first does not
// depend on that. A user that does not exist is not an error.
func (n *node) deleteUser(ctx context.Context, log lager.Logger, user string) error {
	killed, err := n.client.ClientKillByFilter(ctx, "USER", user).Result()
	if err != nil && !replyContains(err, "No such user") {
		return n.fail("end the clients of ACL user "+user, err)
	}
	if err := n.client.ACLDelUser(ctx, user).Err(); err != nil {
		return n.fail("delete ACL user "+user, err)
	}
	log.Info("user-deleted", lager.Data{"user": user, "clients-ended": killed})
	return nil
}

// saveACL writes the node's ACL users to its aclfile, so that they survive a restart. A node
// without an aclfile refuses, and that is no failure: it keeps the users in memory only, and
// after a restart the broker restores those of its live bindings by running Bind again.
func (n *node) saveACL(ctx context.Context, log lager.Logger) error {
	err := n.client.Do(ctx, "ACL", "SAVE").Err()
	switch {
	case replyContains(err, "not configured to use an ACL file"):
		return nil
	case err != nil:
		return n.fail("save its ACL users to its aclfile", err)
	}
	log.Info("acl-saved")
	return nil
}

// replyContains reports whether err is an error reply of the node whose text contains s.
func replyContains(err error, s string) bool {
	var re goredis.Error
	return errors.As(err, &re) && strings.Contains(re.Error(), s)
}
