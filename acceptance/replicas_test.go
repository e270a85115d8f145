package acceptance_test

// Two replicas on one state database sharing 200 mixed operations, undisturbed, or with one
// of them stopped (SIGTERM) or killed (SIGKILL) mid-run while the other finishes.

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	goredis "github.com/redis/go-redis/v9"

	"github.com/lib/pq"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

// privateState is a state database on a PostgreSQL cluster of the spec's own, which the spec
// may stop, and whose connections no other spec competes for.
func privateState() (stateDB, *testkit.PostgresCluster) {
	GinkgoHelper()
	cluster := testkit.StartPostgres(GinkgoT())
	db := testkit.NewDatabase(GinkgoT(), cluster.Server.URL(), "omnibroker_fault")
	return stateDB{name: db.Name, url: db.URL}, cluster
}

// mixedKind is one backend of the mixed workload: its plan, how many of the instances use
// it, and what the spec finds of an instance directly on its node.
type mixedKind struct {
	name string
	plan plan
	n    int
	// logins lists the logins the node gives access to the instance.
	logins func(ctx context.Context, id string) []string
	// exists tells whether the node has a login of that name, with access or without.
	exists func(ctx context.Context, login string) bool
	// object tells whether the instance's database, vhost or keys are on the node.
	object func(ctx context.Context, id string) bool
}

// mixedKinds spreads 50 instances over the four backends, most on Redis, the cheapest; each
// gets a provision, a bind, an unbind and a deprovision: 200 operations.
func mixedKinds(redis *goredis.Client, mysql *sql.DB) []mixedKind {
	GinkgoHelper()
	rabbit := rabbitAdmin()
	rabbitUser := parseURLWithSecret(rabbitAdminURL, "OMNIBROKER_TEST_RABBITMQ_URL").User.Username()
	return []mixedKind{
		{"redis", redisPlan, 34,
			func(ctx context.Context, id string) []string { return redisUsersOf(ctx, redis, id) },
			func(ctx context.Context, login string) bool { return slices.Contains(redisUsers(ctx, redis), login) },
			func(ctx context.Context, id string) bool {
				return len(redisKeysUnder(ctx, redis, redisKeyPrefix(id))) > 0
			}},
		{"postgres", quickPlan, 4,
			func(_ context.Context, id string) []string { return memberNames(backendName("ob_o_", id)) },
			func(_ context.Context, login string) bool { return roleExists(login) },
			func(_ context.Context, id string) bool { return databaseExists(backendDatabase(id)) }},
		{"mysql", mysqlPlan, 6,
			func(_ context.Context, id string) []string {
				return queryStrings(mysql, `SELECT User FROM mysql.db WHERE Host = '%' AND Db = ?`, mysqlGrantPattern(backendDatabase(id)))
			},
			func(_ context.Context, login string) bool {
				return mysqlCount(mysql, `SELECT count(*) FROM mysql.user WHERE User = ?`, login) > 0
			},
			func(_ context.Context, id string) bool {
				return mysqlCount(mysql, `SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?`, backendDatabase(id)) > 0
			}},
		{"rabbitmq", rabbitPlan, 6,
			func(_ context.Context, id string) []string {
				perms, err := rabbit.ListPermissions()
				Expect(err).NotTo(HaveOccurred())
				var ours []string
				for _, p := range perms {
					if p.Vhost == backendDatabase(id) && p.User != rabbitUser {
						ours = append(ours, p.User)
					}
				}
				return ours
			},
			func(_ context.Context, login string) bool {
				_, err := rabbit.GetUser(login)
				return rabbitFound(err)
			},
			func(_ context.Context, id string) bool {
				_, err := rabbit.GetVhost(backendDatabase(id))
				return rabbitFound(err)
			}},
	}
}

// memberNames lists the roles that are members of role on the postgres node.
func memberNames(role string) []string {
	GinkgoHelper()
	return queryStrings(adminDB, `SELECT m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid
		JOIN pg_roles m ON m.oid = a.member WHERE r.rolname = $1`, role)
}

// replicas is a platform's view of several brokers behind one load balancer: a request goes
// to the replica it is given, and to the next when that one does not answer.
type replicas []*osbClient

func (rs replicas) do(i int, method, path string, query url.Values, body any) response {
	GinkgoHelper()
	var err error
	for k := range rs {
		var r response
		if r, err = rs[(i+k)%len(rs)].try(method, path, query, body); err == nil {
			return r
		}
	}
	Expect(err).NotTo(HaveOccurred(), "no replica answered %s %s", method, path)
	return response{}
}

// finish sends one request of the workload to replica i and, when it answers 202, polls its
// operation until it has succeeded; it returns the first answer.
func (rs replicas) finish(i int, method, path string, p plan, body any, okStatus ...int) response {
	GinkgoHelper()
	q := incomplete(true)
	if method == http.MethodDelete {
		q = planQuery(p, q)
	}
	r := rs.do(i, method, path, q, body)
	Expect(r.Status).To(BeElementOf(append(okStatus, http.StatusAccepted)), "%s %s: %s", method, path, r)
	if r.Status == http.StatusAccepted {
		poll := planQuery(p, nil)
		poll.Set("operation", operationOf(r))
		Eventually(func(g Gomega) string {
			last := rs.do(i, http.MethodGet, path+"/last_operation", poll, nil)
			g.Expect(last.Status).To(Equal(http.StatusOK), last.String())
			if last.str("state") == "failed" {
				StopTrying(fmt.Sprintf("%s %s failed: %s", method, path, last)).Now()
			}
			return last.str("state")
		}).WithTimeout(2*time.Minute).WithPolling(250*time.Millisecond).Should(Equal("succeeded"), "%s %s", method, path)
	}
	return r
}

// workload is the mixed workload's instances and bindings.
type workload struct {
	kinds    []mixedKind
	kindOf   []int
	ids      []string
	bindings []string
	users    []string
}

func newWorkload() *workload {
	redis, mysql := redisAdmin(), mysqlAdmin()
	w := &workload{kinds: mixedKinds(redis, mysql)}
	for k, kind := range w.kinds {
		for range kind.n {
			w.kindOf = append(w.kindOf, k)
			w.ids = append(w.ids, newID())
			w.bindings = append(w.bindings, newID())
		}
	}
	w.users = make([]string, len(w.ids))
	for i, id := range w.ids {
		switch w.kinds[w.kindOf[i]].name {
		case "postgres":
			dropLeftoverDatabase(id)
		case "redis":
			dropLeftoverRedis(redis, id)
		case "mysql":
			dropLeftoverMySQL(mysql, id)
		}
	}
	return w
}

func (w *workload) plan(i int) plan { return w.kinds[w.kindOf[i]].plan }

// phase sends one request per instance at once, spread over the replicas, and waits until
// every one has succeeded.
func (w *workload) phase(name string, send func(i int)) time.Duration {
	GinkgoHelper()
	By(fmt.Sprintf("%s %d instances at once", name, len(w.ids)))
	started := time.Now()
	var wg sync.WaitGroup
	for i := range w.ids {
		wg.Go(func() {
			defer GinkgoRecover()
			send(i)
		})
	}
	wg.Wait()
	return time.Since(started)
}

// run drives the four phases through rs; during the provisions, once ten operations have
// succeeded, it calls disrupt (if any).
func (w *workload) run(rs replicas, state *sql.DB, disrupt func()) {
	GinkgoHelper()
	ctx := context.Background()
	disrupted := make(chan struct{})
	if disrupt == nil {
		close(disrupted)
	} else {
		go func() {
			defer GinkgoRecover()
			defer close(disrupted)
			Eventually(func() int {
				return count(state, `SELECT count(*) FROM operations WHERE state = 'succeeded'`)
			}).WithTimeout(time.Minute).Should(BeNumerically(">=", 10))
			disrupt()
		}()
	}
	took := w.phase("provisioning", func(i int) {
		rs.finish(i, http.MethodPut, instancePath(w.ids[i]), w.plan(i), provisionBody(w.plan(i), nil), http.StatusOK, http.StatusCreated)
	})
	GinkgoWriter.Printf("measure: provisions took %s\n", took)
	took = w.phase("binding", func(i int) {
		path := bindingPath(w.ids[i], w.bindings[i])
		r := rs.finish(i+1, http.MethodPut, path, w.plan(i), bindBody(w.plan(i), newID(), nil), http.StatusOK, http.StatusCreated)
		if r.Status == http.StatusAccepted {
			r = rs.do(i, http.MethodGet, path, nil, nil)
		}
		w.users[i] = credentialsOf(r).str("username")
	})
	GinkgoWriter.Printf("measure: binds took %s\n", took)
	<-disrupted

	By("finding one login per binding on the nodes, and no other")
	for i, id := range w.ids {
		Expect(w.kinds[w.kindOf[i]].logins(ctx, id)).To(ConsistOf(w.users[i]), "the logins of %s instance %d", w.kinds[w.kindOf[i]].name, i)
	}

	took = w.phase("unbinding", func(i int) {
		rs.finish(i, http.MethodDelete, bindingPath(w.ids[i], w.bindings[i]), w.plan(i), nil, http.StatusOK)
	})
	GinkgoWriter.Printf("measure: unbinds took %s\n", took)
	took = w.phase("deprovisioning", func(i int) {
		rs.finish(i+1, http.MethodDelete, instancePath(w.ids[i]), w.plan(i), nil, http.StatusOK)
	})
	GinkgoWriter.Printf("measure: deprovisions took %s\n", took)

	By("finding nothing of the instances on the nodes")
	for i, id := range w.ids {
		kind := w.kinds[w.kindOf[i]]
		Expect(kind.logins(ctx, id)).To(BeEmpty(), "logins left of %s instance %d", kind.name, i)
		Expect(kind.exists(ctx, w.users[i])).To(BeFalse(), "the login of %s instance %d is left", kind.name, i)
		Expect(kind.object(ctx, id)).To(BeFalse(), "%s instance %d left behind", kind.name, i)
	}
}

// expectEachOnce checks the state database and the replicas' logs: each of the workload's
// operations once, succeeded within maxAttempt attempts, and logged as succeeded by one replica
// (by at most one when a replica was stopped mid-run).
func expectEachOnce(state *sql.DB, brokers []*broker, maxAttempt int) {
	GinkgoHelper()
	rows, err := state.Query(`SELECT id, kind, state, attempt FROM operations`)
	Expect(err).NotTo(HaveOccurred())
	defer rows.Close()
	kinds := map[string]int{}
	var logs strings.Builder
	for _, b := range brokers {
		logs.Write(b.session.Out.Contents())
	}
	for rows.Next() {
		var id, kind, opState string
		var attempt int
		Expect(rows.Scan(&id, &kind, &opState, &attempt)).To(Succeed())
		kinds[kind]++
		Expect(opState).To(Equal("succeeded"), "operation %s (%s)", id, kind)
		Expect(attempt).To(BeNumerically("<=", maxAttempt), "attempts of operation %s (%s)", id, kind)
		succeeded := 0
		for line := range strings.Lines(logs.String()) {
			if strings.Contains(line, `.succeeded"`) && strings.Contains(line, id) {
				succeeded++
			}
		}
		if maxAttempt == 1 {
			Expect(succeeded).To(Equal(1), "replicas that logged operation %s (%s) as succeeded", id, kind)
		} else {
			// A replica killed between recording the outcome and logging it logs nothing.
			Expect(succeeded).To(BeNumerically("<=", 1), "replicas that logged operation %s (%s) as succeeded", id, kind)
		}
	}
	Expect(rows.Err()).NotTo(HaveOccurred())
	Expect(kinds).To(Equal(map[string]int{"provision": 50, "bind": 50, "unbind": 50, "deprovision": 50}))
}

var _ = Describe("Two replicas on one state database", func() {
	// A lease of ten minutes: the operations the SIGKILLed replica was running are finished by
	// the other within the spec through the killed process's ended session, not its lease; and a
	// loaded machine does not make a live worker miss its renewals.
	replicaEnv := map[string]string{
		"OMNIBROKER_LEASE":            "10m",
		"OMNIBROKER_POLL_INTERVAL":    "500ms",
		"OMNIBROKER_RETRY_BASE":       "200ms",
		"OMNIBROKER_RESTORE_INTERVAL": "0",
		"OMNIBROKER_SHUTDOWN_TIMEOUT": "10s",
	}

	DescribeTable("sharing 200 mixed operations over postgres, mysql, redis and rabbitmq",
		func(stopOne func(b *broker), maxAttempt int) {
			state, _ := privateState()
			db := state.open()
			w := newWorkload()
			a, b := startBroker(state, replicaEnv), startBroker(state, replicaEnv)
			rs := replicas{a.client(), b.client()}
			var disrupt func()
			if stopOne != nil {
				disrupt = func() {
					running := queryStrings(db, `SELECT id FROM operations WHERE state = 'running'`)
					stopped := time.Now()
					stopOne(a)
					GinkgoWriter.Printf("measure: replica stopped with %d operations running\n", len(running))
					if len(running) == 0 {
						return
					}
					Eventually(func() int {
						return count(db, `SELECT count(*) FROM operations WHERE id = ANY($1) AND state = 'succeeded'`, pq.Array(running))
					}).WithTimeout(time.Minute).WithPolling(100 * time.Millisecond).Should(Equal(len(running)))
					GinkgoWriter.Printf("measure: %s: the other replica finished them %s after the stop\n", CurrentSpecReport().LeafNodeText, time.Since(stopped))
				}
			}
			w.run(rs, db, disrupt)
			expectEachOnce(db, []*broker{a, b}, maxAttempt)
		},
		Entry("both run to the end: none runs twice", nil, 1),
		Entry("one gets SIGTERM mid-run: the other finishes", func(b *broker) { b.stop() }, 2),
		Entry("one gets SIGKILL mid-run: the other finishes", func(b *broker) { b.kill() }, 2),
	)
})
