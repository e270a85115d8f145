// Command omnibroker is an Open Service Broker API v2 broker for shared backend servers.
// Its sub-commands are the table in commands.go; `omnibroker help` lists them.
package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerctx"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/mysql"
	"github.com/omnibroker/omnibroker/backends/postgres"
	"github.com/omnibroker/omnibroker/backends/rabbitmq"
	"github.com/omnibroker/omnibroker/backends/redis"
	"github.com/omnibroker/omnibroker/broker"
	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/internal/fault"
	"github.com/omnibroker/omnibroker/operator"
	"github.com/omnibroker/omnibroker/store"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// newLogger builds the one root logger: JSON lines with RFC 3339 timestamps in UTC and the
// level by name (lager's pretty sink); its sink redacts secret-looking keys and
// scheme://user:pass@ values before anything is written.
func newLogger(level lager.LogLevel) (lager.Logger, error) { return newLoggerOn(os.Stdout, level) }

// newLoggerOn is newLogger writing to w.
func newLoggerOn(w io.Writer, level lager.LogLevel) (lager.Logger, error) {
	logger := lager.NewLogger("omnibroker")
	sink, err := lager.NewRedactingSink(lager.NewPrettySink(w, level),
		[]string{"[Pp]ass", "[Pp]wd", "[Ss]ecret", "[Cc]redential", "^uri$", "[Pp]arameters", "[Tt]oken", "[Kk]ey$"},
		append(lager.DefaultValuePatterns(), `[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@`))
	if err != nil {
		return nil, err
	}
	logger.RegisterSink(sink)
	return logger, nil
}

func migrate(cfg Config) error {
	ctx := context.Background()
	st, err := store.Open(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	fmt.Println("migrations applied")
	public, err := st.ClosePublicConnect(ctx)
	if err != nil {
		return err
	}
	switch {
	case public.Revoked:
		fmt.Printf("PUBLIC may no longer connect to state database %s\n", public.Database)
	case public.Open:
		fmt.Fprintf(os.Stderr, "warning: %s\n", openStateDatabase(public.Database))
	}
	return nil
}

// openStateDatabase says why PUBLIC can still connect to the state database, and what to do.
func openStateDatabase(name string) string {
	return "PUBLIC may connect to state database " + name + ", binding roles of a postgres node on its server too, " +
		"and the broker's role neither owns it nor is a superuser: revoke CONNECT ON DATABASE " + name + " FROM PUBLIC as its owner"
}

// closeStateDatabase takes CONNECT on the state database away from PUBLIC, and logs what it
// did, or a warning when the broker's role may not.
func closeStateDatabase(ctx context.Context, logger lager.Logger, st *store.Store) error {
	public, err := st.ClosePublicConnect(ctx)
	if err != nil {
		return err
	}
	data := lager.Data{"database": public.Database}
	switch {
	case public.Revoked:
		logger.Info("state-database-closed-to-public", data)
	case public.Open:
		logger.Error("state-database-open-to-public", errors.New(openStateDatabase(public.Database)), data)
	}
	return nil
}

// logCatalogCheck logs, at start-up, each thing the catalog being served takes away from the
// instances in the state database, as an error line that names them by id, and goes on:
// the broker serves what it can.
func logCatalogCheck(ctx context.Context, logger lager.Logger, cat *catalog.Catalog, st *store.Store) {
	findings, err := (&operator.Operator{Store: st, Catalog: cat}).CheckCatalog(ctx)
	if err != nil {
		logger.Error("catalog-check-failed", err)
		return
	}
	for _, f := range findings {
		logger.Error("catalog-strands-instances", errors.New(f.Sentence), lager.Data{
			"kind": f.Kind, "backend": f.Backend, "node": f.Node, "plan-id": f.PlanID, "plan": f.Plan,
			"version": f.Version, "instances": f.Instances, "instance-ids": f.InstanceIDs,
		})
	}
}

// reseal moves every sealed value to the current key, online, so that a key listed in
// OMNIBROKER_OLD_ENCRYPTION_KEYS can then be retired.
func reseal(cfg Config) error {
	keys, err := store.ParseKeyring(cfg.EncryptionKey, cfg.OldKeys)
	if err != nil {
		return fmt.Errorf("OMNIBROKER_ENCRYPTION_KEY: %w", err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, cfg.DatabaseURL, keys)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer st.Close()
	n, err := st.Reseal(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("re-sealed %d bindings under key %s\n", n, keys.CurrentKeyID())
	for _, old := range cfg.OldKeys {
		raw, err := base64.StdEncoding.DecodeString(old)
		if err != nil || old == "" {
			continue // ParseKeyring accepted the list, so only empty entries are skipped here
		}
		id := store.KeyID(raw)
		left, err := st.SealedUnder(ctx, id)
		if err != nil {
			return err
		}
		fmt.Printf("values still sealed under old key %s: %d\n", id, left)
	}
	return nil
}

func serve(cfg Config) error {
	logger, err := newLogger(cfg.LogLevel)
	if err != nil {
		return err
	}
	if err := fault.Arm(logger, cfg.Fault); err != nil {
		return fmt.Errorf("%s: %w", fault.Env, err)
	}
	cat, err := catalog.Load(cfg.CatalogPath)
	if err != nil {
		return fmt.Errorf("OMNIBROKER_CONFIG %s: %w", cfg.CatalogPath, err)
	}
	keys, err := store.ParseKeyring(cfg.EncryptionKey, cfg.OldKeys)
	if err != nil {
		return fmt.Errorf("OMNIBROKER_ENCRYPTION_KEY: %w", err)
	}
	var tlsConfig *tls.Config
	if cfg.TLSCert != "" {
		if tlsConfig, err = broker.TLSConfig(cfg.TLSCert, cfg.TLSKey, logger); err != nil {
			return fmt.Errorf("OMNIBROKER_TLS_CERT and OMNIBROKER_TLS_KEY: %w", err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	st, err := store.Open(ctx, cfg.DatabaseURL, keys)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	// During a rolling deploy a newer release may have migrated further; migrations only add
	// (store/migrations/README.md), so this binary serves that schema too.
	if current, latest, err := st.SchemaVersion(ctx); err == nil && current > latest {
		logger.Info("schema-newer-than-binary", lager.Data{"schema-version": current, "binary-version": latest})
	}
	if err := closeStateDatabase(ctx, logger, st); err != nil {
		return err
	}
	logCatalogCheck(ctx, logger, cat, st)

	calls := backends.NewCallMetrics()
	adapters, closeBackends, err := openBackends(ctx, logger, cat, calls)
	if err != nil {
		return err
	}
	defer closeBackends()

	b := broker.New(broker.Config{
		Catalog: cat, Store: st, Backends: adapters, Logger: logger,
		SyncBudget: cfg.SyncBudget, WaitPoll: cfg.WaitPoll, MaxAttempts: cfg.MaxAttempts, Logins: cfg.Logins,
		Collectors: processCollectors(calls), MetricsApart: cfg.MetricsListen != "",
		Admin: adminAPI(cfg, &operator.Operator{Store: st, Backends: adapters, Catalog: cat, Logger: logger.Session("operator-api")}),
	})
	pool := b.NewPool(broker.PoolConfig{
		Workers: cfg.Workers, Lease: cfg.Lease, PollInterval: cfg.PollInterval, RetryBase: cfg.RetryBase,
		RescueInterval: cfg.RescueInterval, RestoreInterval: cfg.RestoreInterval, ExpiryInterval: cfg.ExpiryInterval,
	})

	listener, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("OMNIBROKER_LISTEN %s: %w", cfg.Listen, err)
	}
	listener = broker.LimitConnections(listener)
	if tlsConfig != nil {
		listener = tls.NewListener(listener, tlsConfig)
	}
	server := broker.NewServer(broker.Handler(b, logger, cfg.platform()...))
	stopMetrics, err := serveMetrics(logger, cfg.MetricsListen, tlsConfig, b.MetricsHandler())
	if err != nil {
		_ = listener.Close()
		return err
	}
	defer stopMetrics()

	// Shutdown comes in two steps: stop claiming, then, after ShutdownTimeout, cancel the
	// backend calls still running so their operations go back to the queue.
	fetchCtx, stopFetching := context.WithCancel(context.Background())
	workCtx, cancelWork := context.WithCancel(context.Background())
	poolDone := make(chan struct{})
	go func() {
		pool.Run(fetchCtx, workCtx)
		close(poolDone)
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- server.Serve(listener) }()
	logger.Info("serving", lager.Data{"address": listener.Addr().String(), "tls": tlsConfig != nil, "workers": cfg.Workers, "max-connections": broker.ConnectionLimit()})

	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	logger.Info("shutting-down")
	stopFetching()
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancelShutdown()
	_ = server.Shutdown(shutdownCtx)
	select {
	case <-poolDone:
	case <-shutdownCtx.Done():
		cancelWork()
		<-poolDone
	}
	cancelWork()
	logger.Info("stopped")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// adapterKinds builds the adapter of each backend kind from its nodes.
var adapterKinds = map[string]func([]backends.Server) (backends.Backend, error){
	"postgres": func(nodes []backends.Server) (backends.Backend, error) { return postgres.New(nodes) },
	"mysql":    func(nodes []backends.Server) (backends.Backend, error) { return mysql.New(nodes) },
	"redis":    func(nodes []backends.Server) (backends.Backend, error) { return redis.New(nodes) },
	"rabbitmq": func(nodes []backends.Server) (backends.Backend, error) { return rabbitmq.New(nodes) },
}

// middleware is what every adapter is wrapped in, outermost first: the per-call log session
// and result line, then the call's latency on its node (calls) under the backend's name.
func middleware(kind, name string, calls *backends.CallMetrics) []backends.Middleware {
	return []backends.Middleware{backends.Logging(kind), calls.Middleware(name)}
}

// openBackends builds one adapter per configured backend, its calls timed by calls. A node
// that does not answer does not stop start-up: its operations wait and retry, and the log
// says which node it is.
func openBackends(ctx context.Context, logger lager.Logger, cat *catalog.Catalog, calls *backends.CallMetrics) (map[string]backends.Backend, func(), error) {
	adapters := map[string]backends.Backend{}
	var opened []backends.Backend
	closeAll := func() {
		for _, a := range opened {
			_ = a.Close()
		}
	}
	for _, be := range cat.Config.Backends {
		open, ok := adapterKinds[be.Kind]
		if !ok {
			closeAll()
			return nil, nil, fmt.Errorf("backend %s: kind %q is not supported", be.Name, be.Kind)
		}
		var nodes []backends.Server
		for _, n := range be.Nodes {
			url := os.Getenv(n.URLEnv)
			if url == "" {
				url = n.DefaultURL
			}
			if url == "" {
				closeAll()
				return nil, nil, fmt.Errorf("%s is not set (admin URL of node %s of backend %s)", n.URLEnv, n.Name, be.Name)
			}
			nodes = append(nodes, backends.Server{Name: n.Name, AdminURL: url, Host: n.Host, Port: n.Port, CAFile: n.CAFile})
		}
		adapter, err := open(nodes)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("backend %s: %w", be.Name, err)
		}
		adapter = backends.Wrap(adapter, middleware(be.Kind, be.Name, calls)...)
		opened = append(opened, adapter)
		adapters[be.Name] = adapter
		pingNodes(ctx, logger, be.Name, adapter, nodes)
	}
	return adapters, closeAll, nil
}

// pingNodes logs, for each node, whether it answers, all at once so that several nodes that
// are down do not hold up start-up one after the other.
func pingNodes(ctx context.Context, logger lager.Logger, backend string, adapter backends.Backend, nodes []backends.Server) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			data := lager.Data{"backend": backend, "node": n.Name}
			// The adapter logs on it what it finds worth a warning about the node.
			pingCtx = lagerctx.NewContext(pingCtx, logger.WithData(data))
			if err := adapter.Ping(pingCtx, n.Name); err != nil {
				logger.Error("node-unreachable", errors.New(describe(err)), data)
				return
			}
			logger.Info("node-ready", data)
		})
	}
	wg.Wait()
}

// describe is the sentence an adapter's error carries, which names the node and never its URL.
func describe(err error) string {
	if sentence, ok := backends.SentenceOf(err); ok {
		return sentence
	}
	return "the node did not answer"
}
