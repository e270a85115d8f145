package acceptance_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	goredis "github.com/redis/go-redis/v9"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

// poolCatalog is a catalog of pools, one plan per backend kind, each backend a pool of two
// nodes: pg-a (version 15, 3 instances) and pg-b (15 and 16, 3 instances) serve `pooled`; only
// pg-b serves `only-b`; `sixteen` defaults to version 16, which only pg-b offers; the other kinds
// have two nodes of one instance each, redis-b being a Redis server of the spec's own (the other
// kinds have one local server, which their two nodes share); redis-down is a node where nothing
// listens until a spec starts a Redis server there. Those two take their admin URLs, which carry
// a password, from the environment startPoolBroker sets. The two nodes of a pool tell apps
// different host names (127.0.0.1 and localhost), so credentials show which node an instance is on.
var poolCatalog = `services:
  - id: c0a8e3f1-5d2b-4c7a-9e6f-1b3d5f7a9c01
    name: pools
    description: one plan per pool
    bindable: true
    instances_retrievable: true
    bindings_retrievable: true
    plan_updateable: true
    plans:
      - id: c0a8e3f1-5d2b-4c7a-9e6f-1b3d5f7a9c02
        name: pooled
        description: on pg-a or pg-b
        backend: pg-pool
        wait_budget: 10s
        default_version: "15"
        schemas:
          service_instance:
            create: {parameters: {$schema: "http://json-schema.org/draft-04/schema#", type: object, additionalProperties: false, properties: {version: {type: string}}}}
      - id: c0a8e3f1-5d2b-4c7a-9e6f-1b3d5f7a9c03
        name: only-b
        description: on pg-b alone
        backend: pg-pool
        wait_budget: 10s
      - {id: c0a8e3f1-5d2b-4c7a-9e6f-1b3d5f7a9c08, name: sixteen, description: version 16 by default, backend: pg-pool, wait_budget: 10s, default_version: "16"}
      - {id: c0a8e3f1-5d2b-4c7a-9e6f-1b3d5f7a9c04, name: mysql, description: d, backend: mysql-pool, wait_budget: 10s}
      - {id: c0a8e3f1-5d2b-4c7a-9e6f-1b3d5f7a9c05, name: redis, description: d, backend: redis-pool, wait_budget: 10s}
      - {id: c0a8e3f1-5d2b-4c7a-9e6f-1b3d5f7a9c06, name: rabbitmq, description: d, backend: rabbitmq-pool, wait_budget: 10s}
      - {id: c0a8e3f1-5d2b-4c7a-9e6f-1b3d5f7a9c07, name: redis-down, description: d, backend: redis-down, wait_budget: 10s}
backends:
  - name: pg-pool
    kind: postgres
    nodes:
      - {name: pg-a, url_env: OMNIBROKER_POSTGRES_URL, host: 127.0.0.1, plans: [pooled, sixteen], versions: ["15"], capacity: 3}
      - {name: pg-b, url_env: OMNIBROKER_POSTGRES_URL, host: localhost, versions: ["15", "16"], capacity: 3}
` + pairPool("mysql", "OMNIBROKER_MYSQL_URL", "OMNIBROKER_MYSQL_URL") +
	pairPool("redis", "OMNIBROKER_REDIS_URL", "OMNIBROKER_TEST_REDIS_B_URL") +
	pairPool("rabbitmq", "OMNIBROKER_RABBITMQ_URL", "OMNIBROKER_RABBITMQ_URL") + `  - name: redis-down
    kind: redis
    nodes:
      - {name: redis-down, url_env: OMNIBROKER_TEST_DOWN_REDIS_URL}
`

// The pool catalog's plans, one per backend kind.
var (
	pooledPG     = planNamed(poolCatalog, "pooled")
	onlyB        = planNamed(poolCatalog, "only-b")
	sixteen      = planNamed(poolCatalog, "sixteen")
	pooledMySQL  = planNamed(poolCatalog, "mysql")
	pooledRedis  = planNamed(poolCatalog, "redis")
	pooledRabbit = planNamed(poolCatalog, "rabbitmq")
	downRedis    = planNamed(poolCatalog, "redis-down")
)

// pairPool is the catalog's backend KIND-pool: two nodes of one instance each, KIND-a with its
// admin URL from urlEnvA telling apps 127.0.0.1, KIND-b from urlEnvB telling them localhost.
func pairPool(kind, urlEnvA, urlEnvB string) string {
	return strings.NewReplacer("KIND", kind, "URL_A", urlEnvA, "URL_B", urlEnvB).Replace(`  - name: KIND-pool
    kind: KIND
    nodes:
      - {name: KIND-a, url_env: URL_A, host: 127.0.0.1, capacity: 1}
      - {name: KIND-b, url_env: URL_B, host: localhost, capacity: 1}
`)
}

// startPoolBroker serves poolCatalog from a state database of its own, with few, quick retries,
// redis-down being the spec's Redis server on downPort and redis-b the one on redisBPort.
func startPoolBroker(downPort, redisBPort int) *broker {
	GinkgoHelper()
	return startBroker(newStateDB(), poolEnv(downPort, redisBPort))
}

// poolEnv is what a broker serving poolCatalog adds to the suite's environment.
func poolEnv(downPort, redisBPort int) map[string]string {
	GinkgoHelper()
	return map[string]string{
		"OMNIBROKER_CONFIG":              writeCatalog(poolCatalog),
		"OMNIBROKER_MAX_ATTEMPTS":        "2",
		"OMNIBROKER_RETRY_BASE":          "100ms",
		"OMNIBROKER_TEST_REDIS_B_URL":    specRedisURL(redisBPort),
		"OMNIBROKER_TEST_DOWN_REDIS_URL": specRedisURL(downPort),
	}
}

// nodeOf is the node the broker recorded for the instance.
func nodeOf(b *broker, instanceID string) string {
	GinkgoHelper()
	var node string
	Expect(b.state.open().QueryRow(`SELECT COALESCE(node, '') FROM instances WHERE id = $1`, instanceID).Scan(&node)).To(Succeed())
	return node
}

var _ = Describe("Pools and placement", func() {
	var (
		b          *broker
		c          *osbClient
		redisBPort int
	)

	BeforeEach(func() {
		redisBPort = freePort()
		startRedisServer(redisBPort)
		b = startPoolBroker(freePort(), redisBPort)
		c = b.client()
	})

	It("fills a pool to exactly its capacity under concurrent provisions, and refuses one more with a clear message", func() {
		ids := make([]string, 6)
		var wg sync.WaitGroup
		for i := range ids {
			ids[i] = newID()
			dropLeftoverDatabase(ids[i])
			wg.Go(func() {
				defer GinkgoRecover()
				c.provisionReady(ids[i], pooledPG, nil)
			})
		}
		wg.Wait()
		DeferCleanup(func() {
			for _, id := range ids {
				c.deprovisionGone(id, pooledPG)
			}
		})

		By("recording three instances on each node")
		perNode := map[string]int{}
		for _, id := range ids {
			perNode[nodeOf(b, id)]++
			Expect(databaseExists(backendDatabase(id))).To(BeTrue())
		}
		Expect(perNode).To(Equal(map[string]int{"pg-a": 3, "pg-b": 3}))

		By("refusing a seventh")
		extra := newID()
		dropLeftoverDatabase(extra)
		r := c.provision(extra, provisionBody(pooledPG, nil), true)
		Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
		last := c.awaitInstance(extra, pooledPG, operationOf(r))
		Expect(last.str("state")).To(Equal("failed"))
		Expect(last.str("description")).To(Equal("every node of backend pg-pool that serves plan pooled in version 15 is full; ask the broker's operator for capacity"))
		Expect(databaseExists(backendDatabase(extra))).To(BeFalse())
		c.deprovisionGone(extra, pooledPG)

		By("taking a new instance again once one is deleted")
		freed := nodeOf(b, ids[0])
		c.deprovisionGone(ids[0], pooledPG)
		again := newID()
		dropLeftoverDatabase(again)
		c.provisionReady(again, pooledPG, nil)
		Expect(nodeOf(b, again)).To(Equal(freed))
		c.deprovisionGone(again, pooledPG)
	})

	It("places by the version asked for, and refuses a version the pool does not offer", func() {
		id := newID()
		dropLeftoverDatabase(id)
		c.provisionReady(id, pooledPG, map[string]any{"version": "16"})
		DeferCleanup(func() { c.deprovisionGone(id, pooledPG) })
		Expect(nodeOf(b, id)).To(Equal("pg-b"), "only pg-b offers 16")

		By("sending every later call to that node: the binding's host is pg-b's")
		creds := c.bindReady(id, newID(), pooledPG, newID())
		rememberSecret("binding password", creds.str("password"))
		Expect(creds.str("hostname")).To(Equal("localhost"))

		By("refusing a version nobody offers, naming the ones on offer")
		refused := newID()
		r := c.provision(refused, provisionBody(pooledPG, map[string]any{"version": "9.6"}), true)
		expectOSBError(r, http.StatusBadRequest)
		Expect(r.str("description")).To(Equal("parameter version is not a version plan pooled offers; it offers 15, 16"))
		expectNoInstanceStored(b.state.open(), refused)

		By("refusing to change the version of an instance")
		r = c.update(id, with(updateBody(pooledPG, pooledPG, nil), "parameters", map[string]any{"version": "15"}), true)
		expectOSBError(r, http.StatusBadRequest)
		Expect(r.str("description")).To(ContainSubstring("version can only be chosen when the service instance is created"))
	})

	It("refuses a plan change to a plan the instance's node does not serve", func() {
		id := newID()
		dropLeftoverDatabase(id)
		c.provisionReady(id, onlyB, nil)
		DeferCleanup(func() { c.deprovisionGone(id, onlyB) })
		Expect(nodeOf(b, id)).To(Equal("pg-b"))

		onA := newID()
		dropLeftoverDatabase(onA)
		c.provisionReady(onA, pooledPG, nil)
		DeferCleanup(func() { c.deprovisionGone(onA, pooledPG) })
		Expect(nodeOf(b, onA)).To(Equal("pg-a"), "pg-a has the most room once pg-b holds one")

		r := c.update(onA, updateBody(pooledPG, onlyB, nil), true)
		expectOSBErrorCode(r, http.StatusUnprocessableEntity, "PlanChangeNotSupported")
		Expect(r.str("description")).To(ContainSubstring(`does not serve plan "only-b"`))

		By("refusing a plan the node serves, but not in the version it defaults to")
		r = c.update(onA, updateBody(pooledPG, sixteen, nil), true)
		expectOSBErrorCode(r, http.StatusUnprocessableEntity, "PlanChangeNotSupported")
		Expect(r.str("description")).To(ContainSubstring(`does not serve plan "sixteen" in version 16`))
	})

	It("keeps a Redis instance's keys on the server of its node", func(ctx SpecContext) {
		first, second := newID(), newID()
		c.provisionReady(first, pooledRedis, nil)
		DeferCleanup(func() { c.deprovisionGone(first, pooledRedis) })
		c.provisionReady(second, pooledRedis, nil)
		DeferCleanup(func() { c.deprovisionGone(second, pooledRedis) })

		for _, id := range []string{first, second} {
			creds := c.bindReady(id, newID(), pooledRedis, newID())
			rememberSecret("binding password", creds.str("password"))
			wantPort := map[string]int{"redis-a": redisAdminPort(), "redis-b": redisBPort}[nodeOf(b, id)]
			Expect(creds["port"]).To(BeNumerically("==", wantPort))
			key := creds.str("key_prefix") + "where"
			Expect(redisCLI(wantPort, creds.str("username"), creds.str("password"), "SET", key, id)).To(Equal("OK"))
			Expect(redisCLI(wantPort, "", "", "GET", key)).To(Equal(id), "the key is on the node's own server")
		}

		By("leaving no key of either instance on either server once they are deprovisioned")
		c.deprovisionGone(first, pooledRedis)
		c.deprovisionGone(second, pooledRedis)
		servers := map[string]*goredis.Client{"redis-a": redisAdmin(), "redis-b": redisSpecAdmin(ctx, redisBPort)}
		for node, admin := range servers {
			for _, id := range []string{first, second} {
				Expect(redisKeysUnder(ctx, admin, redisKeyPrefix(id))).To(BeEmpty(), "keys of instance %s on the server of %s", id, node)
			}
		}
	})

	DescribeTable("spreads instances of every kind over the two nodes of its pool, and binds each on its own node",
		func(p plan, hostKey string, nodes ...string) {
			first, second := newID(), newID()
			c.provisionReady(first, p, nil)
			DeferCleanup(func() { c.deprovisionGone(first, p) })
			c.provisionReady(second, p, nil)
			DeferCleanup(func() { c.deprovisionGone(second, p) })
			Expect([]string{nodeOf(b, first), nodeOf(b, second)}).To(ConsistOf(nodes))

			for _, id := range []string{first, second} {
				bindingID := newID()
				creds := c.bindReady(id, bindingID, p, newID())
				rememberSecret("binding password", creds.str("password"))
				want := map[string]string{nodes[0]: "127.0.0.1", nodes[1]: "localhost"}[nodeOf(b, id)]
				Expect(creds.str(hostKey)).To(Equal(want), "the binding is made on the instance's node")
				c.unbindGone(id, bindingID, p)
			}

			By("refusing a third: both nodes are full")
			third := newID()
			r := c.provision(third, provisionBody(p, nil), true)
			last := c.awaitInstance(third, p, operationOf(r))
			Expect(last.str("description")).To(ContainSubstring("is full"))
			c.deprovisionGone(third, p)
		},
		Entry("mysql", pooledMySQL, "hostname", "mysql-a", "mysql-b"),
		Entry("redis", pooledRedis, "host", "redis-a", "redis-b"),
		Entry("rabbitmq", pooledRabbit, "hostname", "rabbitmq-a", "rabbitmq-b"),
	)
})

var _ = Describe("A node that is down", func() {
	It("is named in the start-up log; its operations fail after bounded retries, and a platform retry succeeds once it is back", func() {
		port := freePort()
		b := startPoolBroker(port, freePort())
		c := b.client()
		Eventually(b.session).Should(gbytes.Say(`node-unreachable.*"node":"redis-down"`))

		id := newID()
		body := provisionBody(downRedis, nil)
		r := c.provision(id, body, true)
		Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
		last := c.awaitInstance(id, downRedis, operationOf(r))
		Expect(last.str("state")).To(Equal("failed"))
		Expect(last.str("description")).To(ContainSubstring("node redis-down refused the connection"))
		Expect(operationStates(b.state.open(), id, "provision")).To(Equal([]string{"failed"}))
		Expect(count(b.state.open(), `SELECT count(*) FROM instances WHERE id = $1`, id)).To(Equal(1), "the instance is not lost")

		By("bringing the node up and sending the same PUT again")
		startRedisServer(port)
		r = c.provision(id, body, true)
		Expect(r.Status).To(BeElementOf(http.StatusCreated, http.StatusAccepted), r.String())
		if r.Status == http.StatusAccepted {
			expectSucceeded(c.awaitInstance(id, downRedis, operationOf(r)))
		}
		creds := c.bindReady(id, newID(), downRedis, newID())
		rememberSecret("binding password", creds.str("password"))
		Expect(creds["port"]).To(BeNumerically("==", port))
		c.deprovisionGone(id, downRedis)
	})
})

// The admin login of the Redis servers the specs start, which scripts/services also gives the
// local Redis by default.
const (
	specRedisAdmin         = testkit.RedisAdminUser
	specRedisAdminPassword = testkit.RedisAdminPassword
)

// specRedisURL is the admin URL of the spec's Redis server on port.
func specRedisURL(port int) string {
	return fmt.Sprintf("redis://%s:%s@127.0.0.1:%d", specRedisAdmin, specRedisAdminPassword, port)
}

// redisSpecAdmin connects as the admin to the spec's Redis server on port; the client is
// closed when the spec ends.
func redisSpecAdmin(ctx context.Context, port int) *goredis.Client {
	GinkgoHelper()
	c, err := redisTryLogin(ctx, specRedisURL(port))
	Expect(err).NotTo(HaveOccurred(), "logging in as the admin of the Redis server on port %d", port)
	return c
}

// startRedisServer runs a Redis server of the spec's own on port, stopped when the spec ends.
// It is secured as scripts/services secures the local one: the default user is off, since
// anyone may log in as it while it has no password, and the admin user has a password, given
// as its SHA-256 so that it stays out of the process list.
func startRedisServer(port int) {
	GinkgoHelper()
	testkit.StartRedis(GinkgoT(), port, testkit.SecuredRedisArgs()...)
}

// redisAdminPort is the port of the suite's Redis server.
func redisAdminPort() int {
	GinkgoHelper()
	u, err := url.Parse(redisAdminURL)
	Expect(err).NotTo(HaveOccurred())
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return 6379
	}
	return port
}

// redisCLI runs one command with redis-cli against the local server on port, as user (the
// server's admin when empty: the suite's at redisAdminURL, or the spec's), and returns its
// answer.
func redisCLI(port int, user, password string, args ...string) string {
	GinkgoHelper()
	if user == "" {
		admin := specRedisURL(port)
		if port == redisAdminPort() {
			admin = redisAdminURL
		}
		u, err := url.Parse(admin)
		Expect(err).NotTo(HaveOccurred())
		user = u.User.Username()
		password, _ = u.User.Password()
	}
	cmd := exec.Command("redis-cli", append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)...)
	if user != "" {
		// REDISCLI_AUTH keeps the password off the command line; --user names the ACL user.
		cmd.Args = append(cmd.Args[:1], append([]string{"--user", user}, cmd.Args[1:]...)...)
		cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+password)
	}
	out, err := cmd.Output()
	Expect(err).NotTo(HaveOccurred(), "redis-cli %s", args[0])
	return strings.TrimSpace(string(out))
}
