package broker

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omnibroker/omnibroker/store"
)

var (
	instanceStates = []store.InstanceState{store.InstanceProvisioning, store.InstanceReady, store.InstanceUpdating,
		store.InstanceDeprovisioning, store.InstanceFailed, store.InstanceDeleteFailed}
	bindingStates = []store.BindingState{store.BindingCreating, store.BindingBound, store.BindingDeleting,
		store.BindingFailed, store.BindingExpired}
)

const (
	// gaugesTTL is how long a scrape's reading of the state's gauges serves the next scrapes
	// (two Prometheus servers, a person with curl): at most one reading per gaugesTTL.
	gaugesTTL = 5 * time.Second
	// gaugesTimeout bounds a reading, well inside a scrape's timeout (Prometheus's default is
	// 10 s): a state database that does not answer leaves the gauges out of that scrape.
	gaugesTimeout = 2 * time.Second
	// reachTTL is how long a round of pings of the nodes serves the next scrapes.
	reachTTL = 10 * time.Second
	// reachTimeout bounds each ping of a round; the nodes are pinged at once.
	reachTimeout = 2 * time.Second
)

// stateGauges exports what the state database holds: the queue by state and kind and its
// oldest queued operation, the instances and bindings per plan and state, and per node the
// instances placed on it and its capacity. Only the replica whose pool's session holds the
// gauges lock exports them (store.Session.LeadsGauges), so a sum over replicas counts each
// row once; every replica exports omnibroker_state_gauges_exporter, 1 on that one.
type stateGauges struct {
	b                                                   *Broker
	exporter, queue, oldest, instances, bindings, nodes *prometheus.Desc
	capacity                                            *prometheus.Desc

	read   cached[[]prometheus.Metric]
	failed bool // the last reading failed: the log has said so
}

func newStateGauges(b *Broker) *stateGauges {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	g := &stateGauges{
		b: b,
		exporter: desc("omnibroker_state_gauges_exporter",
			"1 on the one replica that exports the gauges read from the state database (it holds their lock), 0 on the others."),
		queue: desc("omnibroker_queue_operations",
			"Operations in the queue, by state (queued, running) and kind.", "state", "kind"),
		oldest: desc("omnibroker_queue_oldest_queued_seconds",
			"Age of the oldest queued operation since its creation (one waiting out a retry's backoff too); 0 when none is queued."),
		instances: desc("omnibroker_instances",
			"Service instances, by service, plan and state.", "service", "plan", "state"),
		bindings: desc("omnibroker_bindings",
			"Bindings, by service, plan and state.", "service", "plan", "state"),
		nodes: desc("omnibroker_node_instances",
			"Instances placed on a node, whatever their state, as placement counts them.", "backend", "node"),
		capacity: desc("omnibroker_node_capacity",
			"How many instances the catalog lets a node take; 0 means no limit.", "backend", "node"),
	}
	g.read = cached[[]prometheus.Metric]{ttl: gaugesTTL, read: g.reading}
	return g
}

func (g *stateGauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{g.exporter, g.queue, g.oldest, g.instances, g.bindings, g.nodes, g.capacity} {
		ch <- d
	}
}

func (g *stateGauges) Collect(ch chan<- prometheus.Metric) {
	for _, m := range g.read.get() {
		ch <- m
	}
}

// cached is a reading that serves the scrapes of ttl; a scrape that comes while it is being
// read waits for it.
type cached[T any] struct {
	ttl  time.Duration
	read func() T

	mu    sync.Mutex
	at    time.Time
	value T
}

func (c *cached[T]) get() T {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) >= c.ttl {
		c.value, c.at = c.read(), time.Now()
	}
	return c.value
}

// reading is the exporter gauge and, on the replica that leads, the state's gauges.
func (g *stateGauges) reading() []prometheus.Metric {
	ctx, cancel := context.WithTimeout(context.Background(), gaugesTimeout)
	defer cancel()
	leads := false
	if pool := g.b.pool.Load(); pool != nil {
		if se, _ := pool.tie.current(); se != nil {
			leads, _ = se.LeadsGauges(ctx) // a session that fails is the pool's to notice
		}
	}
	exporter := 0.0
	if leads {
		exporter = 1
	}
	out := []prometheus.Metric{prometheus.MustNewConstMetric(g.exporter, prometheus.GaugeValue, exporter)}
	if !leads {
		return out
	}
	read, err := g.b.store.ReadGauges(ctx)
	if err != nil {
		// Once per outage: each failed scrape would say the same.
		if !g.failed {
			g.b.logger.Error("state-gauges-read-failed", err)
		}
		g.failed = true
		return out
	}
	g.failed = false
	return append(out, g.metrics(read)...)
}

// planKey names a plan in the labels: its service's and its own name, or its id alone once
// it has left the catalog.
type planKey struct{ service, plan string }

type nodeKey struct{ backend, node string }

// metrics turns a reading into gauges, with a zero for each plan, state and node of the
// catalog that holds nothing, so that each series exists from the start.
func (g *stateGauges) metrics(read store.Gauges) []prometheus.Metric {
	var out []prometheus.Metric
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...))
	}

	queue := map[[2]string]int{}
	for _, state := range []store.OperationState{store.OpQueued, store.OpRunning} {
		for _, kind := range store.KnownKinds() {
			queue[[2]string{string(state), string(kind)}] = 0
		}
	}
	for _, q := range read.Queue {
		queue[[2]string{string(q.State), string(q.Kind)}] += q.Count
	}
	for k, n := range queue {
		gauge(g.queue, float64(n), k[0], k[1])
	}
	gauge(g.oldest, read.OldestQueued().Seconds())

	instances, bindings := map[planKey]map[string]int{}, map[planKey]map[string]int{}
	placed, capacity := map[nodeKey]int{}, map[nodeKey]int{}
	for _, s := range g.b.catalog.Services() {
		for _, p := range s.Plans {
			key := planKey{s.Name, p.Name}
			instances[key], bindings[key] = map[string]int{}, map[string]int{}
			for _, state := range instanceStates {
				instances[key][string(state)] = 0
			}
			for _, state := range bindingStates {
				bindings[key][string(state)] = 0
			}
		}
	}
	for _, be := range g.b.catalog.Config.Backends {
		for _, n := range be.Nodes {
			key := nodeKey{be.Name, n.Name}
			placed[key], capacity[key] = 0, n.Capacity
		}
	}
	for _, i := range read.Instances {
		count(instances, g.planOf(i.PlanID), string(i.State), i.Count)
		if i.Node != "" {
			placed[nodeKey{i.Backend, i.Node}] += i.Count
		}
	}
	for _, bnd := range read.Bindings {
		count(bindings, g.planOf(bnd.PlanID), string(bnd.State), bnd.Count)
	}
	for key, states := range instances {
		for state, n := range states {
			gauge(g.instances, float64(n), key.service, key.plan, state)
		}
	}
	for key, states := range bindings {
		for state, n := range states {
			gauge(g.bindings, float64(n), key.service, key.plan, state)
		}
	}
	for key, n := range placed {
		gauge(g.nodes, float64(n), key.backend, key.node)
	}
	for key, n := range capacity {
		gauge(g.capacity, float64(n), key.backend, key.node)
	}
	return out
}

func count(by map[planKey]map[string]int, key planKey, state string, n int) {
	if by[key] == nil {
		by[key] = map[string]int{}
	}
	by[key][state] += n
}

func (g *stateGauges) planOf(id string) planKey {
	if plan, service, ok := g.b.catalog.Plan(id); ok {
		return planKey{service.Name, plan.Name}
	}
	return planKey{"", id}
}

// reachability exports omnibroker_node_reachable for each node of the catalog: 1 when this
// replica's last ping of it answered. Each replica pings from where it runs, so each exports
// its own view; a round of pings serves the scrapes of reachTTL.
type reachability struct {
	b    *Broker
	desc *prometheus.Desc
	up   cached[map[nodeKey]bool]
}

func newReachability(b *Broker) *reachability {
	r := &reachability{b: b, desc: prometheus.NewDesc("omnibroker_node_reachable",
		"1 when the node answered this replica's last ping with its admin login, else 0.", []string{"backend", "node"}, nil)}
	r.up = cached[map[nodeKey]bool]{ttl: reachTTL, read: r.ping}
	return r
}

func (r *reachability) Describe(ch chan<- *prometheus.Desc) { ch <- r.desc }

func (r *reachability) Collect(ch chan<- prometheus.Metric) {
	for key, up := range r.up.get() {
		v := 0.0
		if up {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(r.desc, prometheus.GaugeValue, v, key.backend, key.node)
	}
}

// ping pings every node of the catalog at once. The adapters log nothing on a context
// without a logger: the start-up log says which nodes answer, the gauge says the rest.
func (r *reachability) ping() map[nodeKey]bool {
	up := map[nodeKey]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, be := range r.b.catalog.Config.Backends {
		adapter, ok := r.b.backends[be.Name]
		if !ok {
			continue
		}
		for _, n := range be.Nodes {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), reachTimeout)
				defer cancel()
				err := adapter.Ping(ctx, n.Name)
				mu.Lock()
				defer mu.Unlock()
				up[nodeKey{be.Name, n.Name}] = err == nil
			})
		}
	}
	wg.Wait()
	return up
}
