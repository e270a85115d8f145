package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"os/user"
	"syscall"

	"code.cloudfoundry.org/lager/v3"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/broker"
	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/operator"
	"github.com/omnibroker/omnibroker/store"
)

// exitCode is an error that only sets the exit status of an operator command: 1 found
// something to act on, 2 a usage error found after the flags parsed, 3 could not finish (a
// node that did not answer). What it stands for was printed already.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// operatorSettings are what every operator command reads: serve's, as it works on the same
// state database, catalog and nodes.
var operatorSettings = []settings{stateSettings, serveSettings, keySettings}

// operatorCommand is what an operator command runs with: the Operator its work goes through,
// on the state database and the catalog's nodes that serve uses, with its log on stderr (so
// that stdout holds the report alone) under the OS user who runs it.
type operatorCommand struct {
	ctx   context.Context
	cfg   Config
	op    *operator.Operator
	actor operator.Actor
}

// openOperator opens what the operator command name works with; close releases it.
func openOperator(cfg Config, name string) (cmd *operatorCommand, close func(), err error) {
	cat, err := catalog.Load(cfg.CatalogPath)
	if err != nil {
		return nil, nil, fmt.Errorf("OMNIBROKER_CONFIG %s: %w", cfg.CatalogPath, err)
	}
	keys, err := store.ParseKeyring(cfg.EncryptionKey, cfg.OldKeys)
	if err != nil {
		return nil, nil, fmt.Errorf("OMNIBROKER_ENCRYPTION_KEY: %w", err)
	}
	logger, err := newLoggerOn(os.Stderr, cfg.LogLevel)
	if err != nil {
		return nil, nil, err
	}
	actor := operator.Actor{Name: runningUser(), Via: operator.ViaCLI}
	logger = logger.Session(name, lager.Data{"os-user": actor.Name})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	st, err := store.Open(ctx, cfg.DatabaseURL, keys)
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	// The repairs table and the kinds of the operator's operations come with migrations.
	if err := st.Migrate(ctx); err != nil {
		_ = st.Close()
		stop()
		return nil, nil, err
	}
	adapters, closeBackends, err := openBackends(ctx, logger, cat, backends.NewCallMetrics())
	if err != nil {
		_ = st.Close()
		stop()
		return nil, nil, err
	}
	cmd = &operatorCommand{ctx: ctx, cfg: cfg, actor: actor,
		op: &operator.Operator{Store: st, Backends: adapters, Catalog: cat, Logger: logger}}
	return cmd, func() { closeBackends(); _ = st.Close(); stop() }, nil
}

// withWorkers runs work while workers of this process claim and run queued operations beside
// any running broker's, so that a repair queued when no broker runs still gets done; they
// stop claiming when work returns, and finish what they claimed.
func (c *operatorCommand) withWorkers(work func()) {
	b := broker.New(broker.Config{Catalog: c.op.Catalog, Store: c.op.Store, Backends: c.op.Backends,
		Logger: c.op.Logger, MaxAttempts: c.cfg.MaxAttempts})
	pool := b.NewPool(broker.PoolConfig{Workers: 2, Lease: c.cfg.Lease, PollInterval: c.cfg.PollInterval,
		RetryBase: c.cfg.RetryBase, RescueInterval: c.cfg.RescueInterval})
	fetchCtx, stopFetching := context.WithCancel(c.ctx)
	done := make(chan struct{})
	go func() { pool.Run(fetchCtx, c.ctx); close(done) }()
	work()
	stopFetching()
	<-done
}

// runningUser is who runs the command, whom its repairs are recorded under.
func runningUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// adminAPI is the operator API that serve hands the broker, on serve's own state database and
// adapters; off without the operator's login.
func adminAPI(cfg Config, op *operator.Operator) broker.AdminAPI {
	if cfg.admin() == nil {
		return broker.AdminAPI{}
	}
	return broker.AdminAPI{Credentials: cfg.admin(), Serve: operator.NewAPI(op).Serve}
}
