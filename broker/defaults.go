package broker

import (
	"time"

	"github.com/omnibroker/omnibroker/catalog"
)

// The defaults of the broker's settings, each declared here and nowhere else: New and
// NewPool take them for zero values, cmd/omnibroker takes them for unset environment
// variables, and the README's configuration table states them (a test in cmd checks it).
const (
	// DefaultSyncBudget is Config.SyncBudget's default.
	DefaultSyncBudget = 50 * time.Second
	// MaxSyncBudget is the longest sync budget that makes sense: a request must be answered
	// before the platforms' 60 s client timeout, as for a plan's wait budget.
	MaxSyncBudget = catalog.MaxWaitBudget
	// DefaultMaxAttempts is Config.MaxAttempts's default.
	DefaultMaxAttempts = 5
	// DefaultWaitPoll is Config.WaitPoll's default: how often a request that waits for its
	// operation re-reads it when no wake-up came, the fallback for a lost notification.
	DefaultWaitPoll = time.Second

	// DefaultWorkers is how many workers a serving process runs when not told otherwise.
	// PoolConfig.Workers has no default: 0 runs none, for a replica that only serves the API.
	// A worker spends its operation waiting on the state database and a node and holds a
	// pooled connection only for a statement or a commit, so eight keep a burst of quick
	// operations moving (their completions share disk flushes) and slow ones (a PostgreSQL
	// database takes a few hundred milliseconds) from queueing behind each other, within the
	// state database pool's 20 connections beside the requests.
	DefaultWorkers = 8
	// DefaultLease is PoolConfig.Lease's default.
	DefaultLease = 30 * time.Second
	// DefaultPollInterval is PoolConfig.PollInterval's default.
	DefaultPollInterval = 2 * time.Second
	// DefaultOperationTimeout is PoolConfig.OperationTimeout's default.
	DefaultOperationTimeout = 10 * time.Minute
	// DefaultRescueInterval is PoolConfig.RescueInterval's default.
	DefaultRescueInterval = time.Second
	// DefaultRetryBase is PoolConfig.RetryBase's default.
	DefaultRetryBase = 2 * time.Second
	// DefaultRestoreInterval is how often a serving process sweeps for lost logins when not
	// told otherwise. PoolConfig.RestoreInterval has no default: 0 turns the sweep off.
	DefaultRestoreInterval = time.Minute
	// DefaultExpiryInterval is PoolConfig.ExpiryInterval's default: how often a serving
	// process looks for bindings whose lifetime has run out.
	DefaultExpiryInterval = 10 * time.Second
	// DefaultShutdownTimeout is how long, at shutdown, running operations may finish between
	// the end of Pool.Run's fetchCtx and the end of its workCtx.
	DefaultShutdownTimeout = 20 * time.Second

	// DefaultLoginFailures is LoginLimits.Failures's default: how many new wrong credentials
	// one address may send at once.
	DefaultLoginFailures = 10
	// DefaultLoginInterval is LoginLimits.Interval's default: after its first
	// DefaultLoginFailures, an address may try one more every 6 s (14,400 a day).
	DefaultLoginInterval = 6 * time.Second
	// MaxLoginAddresses bounds how many addresses the failed-login table holds at once (a few
	// hundred kilobytes); an address leaves it once its bucket is full again.
	MaxLoginAddresses = 10000
)

// orDefault is v, or def when v is not positive.
func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
