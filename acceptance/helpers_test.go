package acceptance_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// The test catalog's ids.
const (
	pgServiceID     = "a3ca7818-1eb4-4fc1-899c-0726f8e66603"
	quickPlanID     = "57dce5fd-1c79-4038-bcc9-ce4d55d31bc6"
	quick2PlanID    = "b802d3f1-55fc-4fa5-a038-f4b800ba7faa"
	asyncPlanID     = "01fe66d2-08c4-49bd-aefe-c24746459d5b"
	fixedPlanID     = "dd651d1e-58b8-4920-b6c1-a94a1cb9cf23"
	otherServiceID  = "7f995d9a-2d6c-4014-9142-af05ccec03cc"
	otherPlanID     = "369aa54d-5ae7-4630-9a4e-578a112571d8"
	mysqlServiceID  = "0b7c52a4-57d4-4a43-9c5c-3f0b1a6f3c11"
	mysqlPlanID     = "0b7c52a4-57d4-4a43-9c5c-3f0b1a6f3c12"
	redisServiceID  = "4e8e1f0c-2b53-4c9e-8a7b-6d1c2f3e4a21"
	redisPlanID     = "4e8e1f0c-2b53-4c9e-8a7b-6d1c2f3e4a22"
	rabbitServiceID = "9d2f6a7b-1c3e-4f5a-8b9c-0d1e2f3a4b31"
	rabbitPlanID    = "9d2f6a7b-1c3e-4f5a-8b9c-0d1e2f3a4b32"
)

// plan names a plan of the test catalog the way requests do.
type plan struct{ serviceID, planID string }

var (
	quickPlan  = plan{pgServiceID, quickPlanID}
	quick2Plan = plan{pgServiceID, quick2PlanID}
	asyncPlan  = plan{pgServiceID, asyncPlanID}
	fixedPlan  = plan{pgServiceID, fixedPlanID}
	mysqlPlan  = plan{mysqlServiceID, mysqlPlanID}
	redisPlan  = plan{redisServiceID, redisPlanID}
	rabbitPlan = plan{rabbitServiceID, rabbitPlanID}
)

// The admin URLs of the other local servers, overridable like OMNIBROKER_TEST_DATABASE_URL.
var (
	mysqlAdminURL  = envOr("OMNIBROKER_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/")
	redisAdminURL  = envOr("OMNIBROKER_TEST_REDIS_URL", "redis://omnibroker:omnibroker-dev@127.0.0.1:6379")
	rabbitAdminURL = envOr("OMNIBROKER_TEST_RABBITMQ_URL", "http://guest:guest@127.0.0.1:15672")
)

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// quickWaitBudget is the wait_budget of the quick plans: how long a request with
// accepts_incomplete=true waits for its operation before it answers 202.
const quickWaitBudget = 10 * time.Second

const extensionsSchema = `{"$schema": "http://json-schema.org/draft-04/schema#", type: object, additionalProperties: false, properties: {extensions: {type: array, uniqueItems: true, items: {enum: [citext, hstore, pg_trgm, pgcrypto, "uuid-ossp"]}}}}`

// catalogYAML is the catalog every broker of the suite serves: quick waits for its operation,
// quick2 too (a plan to move quick to), async never does, fixed cannot change plan, and
// other-service is a second offering.
var catalogYAML = strings.NewReplacer(
	"PG_SERVICE", pgServiceID,
	"QUICK_PLAN", quickPlanID,
	"QUICK2_PLAN", quick2PlanID,
	"QUICK_BUDGET", quickWaitBudget.String(),
	"ASYNC_PLAN", asyncPlanID,
	"FIXED_PLAN", fixedPlanID,
	"OTHER_SERVICE", otherServiceID,
	"OTHER_PLAN", otherPlanID,
	"MYSQL_SERVICE", mysqlServiceID,
	"MYSQL_PLAN", mysqlPlanID,
	"REDIS_SERVICE", redisServiceID,
	"REDIS_PLAN", redisPlanID,
	"RABBIT_SERVICE", rabbitServiceID,
	"RABBIT_PLAN", rabbitPlanID,
	"SCHEMA", extensionsSchema,
).Replace(`services:
  - id: PG_SERVICE
    name: pg-test
    description: test postgres
    bindable: true
    instances_retrievable: true
    bindings_retrievable: true
    plan_updateable: true
    plans:
      - id: QUICK_PLAN
        name: quick
        description: waits up to ten seconds for its operation
        backend: postgres
        wait_budget: QUICK_BUDGET
        config: {connection_limit: 20}
        schemas:
          service_instance:
            create: {parameters: SCHEMA}
            update: {parameters: SCHEMA}
      - id: QUICK2_PLAN
        name: quick2
        description: like quick, with fewer connections
        backend: postgres
        wait_budget: QUICK_BUDGET
        config: {connection_limit: 10}
      - id: ASYNC_PLAN
        name: async
        description: never waits for its operation
        backend: postgres
        async_only: true
        schemas:
          service_instance:
            create: {parameters: SCHEMA}
            update: {parameters: SCHEMA}
      - id: FIXED_PLAN
        name: fixed
        description: cannot change plan
        backend: postgres
        plan_updateable: false
  - id: OTHER_SERVICE
    name: other-service
    description: another offering
    bindable: true
    instances_retrievable: true
    bindings_retrievable: true
    plans:
      - id: OTHER_PLAN
        name: other
        description: d
        backend: postgres
  - id: MYSQL_SERVICE
    name: mysql-test
    description: test mysql
    bindable: true
    bindings_retrievable: true
    plans:
      - id: MYSQL_PLAN
        name: mysql
        description: a database on MariaDB
        backend: mysql
        wait_budget: QUICK_BUDGET
        config: {max_user_connections: 5}
  - id: REDIS_SERVICE
    name: redis-test
    description: test redis
    bindable: true
    bindings_retrievable: true
    plans:
      - id: REDIS_PLAN
        name: redis
        description: a key prefix on Redis
        backend: redis
        wait_budget: QUICK_BUDGET
  - id: RABBIT_SERVICE
    name: rabbitmq-test
    description: test rabbitmq
    bindable: true
    bindings_retrievable: true
    plans:
      - id: RABBIT_PLAN
        name: rabbitmq
        description: a vhost on RabbitMQ
        backend: rabbitmq
        wait_budget: QUICK_BUDGET
backends:
  - name: postgres
    kind: postgres
    nodes:
      - name: pg-local
        url_env: OMNIBROKER_POSTGRES_URL
        capacity: 1000
  - name: mysql
    kind: mysql
    nodes:
      - name: mysql-local
        url_env: OMNIBROKER_MYSQL_URL
        capacity: 1000
  - name: redis
    kind: redis
    nodes:
      - name: redis-local
        url_env: OMNIBROKER_REDIS_URL
        capacity: 1000
  - name: rabbitmq
    kind: rabbitmq
    nodes:
      - name: rabbitmq-local
        url_env: OMNIBROKER_RABBITMQ_URL
        capacity: 1000
`)

// Per-process settings shared by every broker this process starts, so that a restarted
// broker can read what an earlier one sealed.
var (
	brokerUsername = "platform"
	brokerPassword string
	encryptionKey  string
	catalogPath    string
)

func initSuiteSecrets() {
	brokerPassword = randomBase62(32)
	key := make([]byte, 32)
	_, err := rand.Read(key)
	Expect(err).NotTo(HaveOccurred())
	encryptionKey = base64.StdEncoding.EncodeToString(key)
	rememberSecret("the basic-auth password", brokerPassword)
	rememberSecret("the encryption key", encryptionKey)

	dir, err := os.MkdirTemp("", "omnibroker-acceptance")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	catalogPath = filepath.Join(dir, "catalog.yml")
	Expect(os.WriteFile(catalogPath, []byte(catalogYAML), 0o600)).To(Succeed())
}

func randomBase62(n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	out := make([]byte, n)
	for i := range out {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		Expect(err).NotTo(HaveOccurred())
		out[i] = alphabet[k.Int64()]
	}
	return string(out)
}

func newID() string { return uuid.NewString() }

// secrets are the values no broker may ever print: the basic-auth password, the encryption
// key, and every password and URI handed out on bind.
var secrets struct {
	sync.Mutex
	all []secret
}

// secret is one value to look for, with a label that failure messages show instead of it.
type secret struct{ label, value string }

func rememberSecret(label, value string) {
	if value == "" {
		return
	}
	secrets.Lock()
	defer secrets.Unlock()
	secrets.all = append(secrets.all, secret{label, value})
}

func knownSecrets() []secret {
	secrets.Lock()
	defer secrets.Unlock()
	return append([]secret(nil), secrets.all...)
}

// sessions are every broker process this test process started.
var sessions struct {
	sync.Mutex
	all []*gexec.Session
}

func expectNoSecretsInOutput() {
	GinkgoHelper()
	Expect(secretLeaks()).To(BeEmpty(), "a broker printed a secret")
}

// secretLeaks names (never shows) every known secret that a broker of this process printed.
func secretLeaks() []string {
	sessions.Lock()
	all := append([]*gexec.Session(nil), sessions.all...)
	sessions.Unlock()
	var leaks []string
	for _, s := range all {
		leaks = append(leaks, sessionLeaks(s)...)
	}
	return leaks
}

func sessionLeaks(s *gexec.Session) []string {
	out, errOut := string(s.Out.Contents()), string(s.Err.Contents())
	var leaks []string
	for _, secret := range knownSecrets() {
		if strings.Contains(out, secret.value) {
			leaks = append(leaks, fmt.Sprintf("stdout of broker pid %d holds %s", s.Command.Process.Pid, secret.label))
		}
		if strings.Contains(errOut, secret.value) {
			leaks = append(leaks, fmt.Sprintf("stderr of broker pid %d holds %s", s.Command.Process.Pid, secret.label))
		}
	}
	return leaks
}

func expectSessionHasNoSecrets(s *gexec.Session) {
	GinkgoHelper()
	Expect(sessionLeaks(s)).To(BeEmpty(), "the broker printed a secret")
}

// stateDB is a state database of its own for one broker (or one broker and its restarts).
type stateDB struct {
	name string
	url  string
}

// newStateDB creates a fresh state database and drops it when the current node ends.
func newStateDB() stateDB {
	GinkgoHelper()
	name := fmt.Sprintf("omnibroker_acceptance_%d_%s", GinkgoParallelProcess(), strings.ToLower(randomBase62(8)))
	_, err := adminDB.Exec("CREATE DATABASE " + pq.QuoteIdentifier(name))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		_, err := adminDB.Exec("DROP DATABASE IF EXISTS " + pq.QuoteIdentifier(name) + " WITH (FORCE)")
		Expect(err).NotTo(HaveOccurred())
	})
	u, err := url.Parse(adminURL)
	Expect(err).NotTo(HaveOccurred())
	u.Path = "/" + name
	return stateDB{name: name, url: u.String()}
}

// open connects to the state database to look at what the broker stored.
func (s stateDB) open() *sql.DB {
	GinkgoHelper()
	db, err := sql.Open("postgres", s.url)
	Expect(err).NotTo(HaveOccurred())
	db.SetMaxOpenConns(2)
	DeferCleanup(db.Close)
	return db
}

// broker is one running omnibroker process.
type broker struct {
	session *gexec.Session
	url     string
	state   stateDB
}

func freePort() int {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// brokerEnv is the environment of a broker of the suite serving the test catalog from state.
func brokerEnv(state stateDB, listen string) map[string]string {
	return map[string]string{
		"DATABASE_URL":              state.url,
		"OMNIBROKER_CONFIG":         catalogPath,
		"OMNIBROKER_LISTEN":         listen,
		"OMNIBROKER_USERNAME":       brokerUsername,
		"OMNIBROKER_PASSWORD":       brokerPassword,
		"OMNIBROKER_ENCRYPTION_KEY": encryptionKey,
		"OMNIBROKER_POSTGRES_URL":   adminURL,
		"OMNIBROKER_MYSQL_URL":      mysqlAdminURL,
		"OMNIBROKER_REDIS_URL":      redisAdminURL,
		"OMNIBROKER_RABBITMQ_URL":   rabbitAdminURL,
	}
}

// startBroker runs `omnibroker serve` on a free port against state, with extra environment
// on top of the suite's, waits until it answers the catalog, and stops it when the current
// node ends (unless the spec stopped or killed it first).
func startBroker(state stateDB, extra map[string]string) *broker {
	GinkgoHelper()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort())
	env := brokerEnv(state, listen)
	for k, v := range extra {
		env[k] = v
	}
	cmd := exec.Command(binaryPath, "serve")
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OMNIBROKER_") || strings.HasPrefix(kv, "DATABASE_URL=") {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	sessions.Lock()
	sessions.all = append(sessions.all, session)
	sessions.Unlock()

	b := &broker{session: session, url: "http://" + listen, state: state}
	DeferCleanup(b.stop)
	c := b.client()
	Eventually(func(g Gomega) {
		if code := session.ExitCode(); code != -1 {
			StopTrying(fmt.Sprintf("omnibroker exited with code %d before it answered", code)).Now()
		}
		resp, err := c.try(http.MethodGet, "/v2/catalog", nil, nil)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(resp.Status).To(Equal(http.StatusOK), resp.String())
	}).Should(Succeed(), "omnibroker answers GET /v2/catalog")
	return b
}

// stop sends SIGTERM and waits for the process to end; it is a no-op on an ended process.
func (b *broker) stop() {
	GinkgoHelper()
	if b.session.ExitCode() == -1 {
		b.session.Terminate()
		Eventually(b.session, 30*time.Second).Should(gexec.Exit(), "omnibroker stops on SIGTERM")
	}
	expectSessionHasNoSecrets(b.session)
}

// kill sends SIGKILL, as a crashed host would, and waits for the process to end.
func (b *broker) kill() {
	GinkgoHelper()
	b.session.Kill()
	Eventually(b.session, 10*time.Second).Should(gexec.Exit())
	expectSessionHasNoSecrets(b.session)
}

// client returns a client that speaks to b as Cloud Foundry does: OSB 2.15, basic auth, and
// an originating identity of its own user.
func (b *broker) client() *osbClient {
	return &osbClient{
		baseURL:  b.url,
		username: brokerUsername,
		password: brokerPassword,
		version:  "2.15",
		userID:   newID(),
		http:     &http.Client{Timeout: 90 * time.Second},
	}
}

// osbClient is a small OSB client. Empty fields leave their header out.
type osbClient struct {
	baseURL  string
	username string
	password string
	noAuth   bool
	version  string
	userID   string
	http     *http.Client
}

// identityHeader is Cloud Foundry's X-Broker-API-Originating-Identity value for userID.
func identityHeader(userID string) string {
	value, _ := json.Marshal(map[string]string{"user_id": userID})
	return "cloudfoundry " + base64.StdEncoding.EncodeToString(value)
}

// response is one broker answer.
type response struct {
	Status int
	Header http.Header
	// Body is the decoded JSON object, nil when the body is not one.
	Body map[string]any
	Raw  []byte
}

// String describes the answer for a failure message, with credentials and known secrets
// masked so that a failing spec does not print them.
func (r response) String() string {
	text := string(r.Raw)
	if r.Body != nil {
		masked := map[string]any{}
		for k, v := range r.Body {
			masked[k] = v
		}
		if _, ok := masked["credentials"]; ok {
			masked["credentials"] = "<masked>"
		}
		b, _ := json.Marshal(masked)
		text = string(b)
	}
	for _, s := range knownSecrets() {
		text = strings.ReplaceAll(text, s.value, "<masked>")
	}
	return fmt.Sprintf("HTTP %d %s: %s", r.Status, r.Header.Get("Content-Type"), text)
}

func (r response) str(key string) string {
	s, _ := r.Body[key].(string)
	return s
}

// try sends one request. body is nil for none, []byte or string for raw bytes, or anything
// else to be sent as JSON.
func (c *osbClient) try(method, path string, query url.Values, body any) (response, error) {
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		reader = bytes.NewReader(b)
	case string:
		reader = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		reader = bytes.NewReader(data)
	}
	u := c.baseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, reader)
	if err != nil {
		return response{}, err
	}
	if reader != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if !c.noAuth {
		req.SetBasicAuth(c.username, c.password)
	}
	if c.version != "" {
		req.Header.Set("X-Broker-API-Version", c.version)
	}
	if c.userID != "" {
		req.Header.Set("X-Broker-API-Originating-Identity", identityHeader(c.userID))
	}
	req.Header.Set("X-Broker-API-Request-Identity", newID())
	res, err := c.http.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	r := response{Status: res.StatusCode, Header: res.Header, Raw: raw}
	var obj map[string]any
	if json.Unmarshal(raw, &obj) == nil {
		r.Body = obj
	}
	return r, nil
}

func (c *osbClient) do(method, path string, query url.Values, body any) response {
	GinkgoHelper()
	r, err := c.try(method, path, query, body)
	Expect(err).NotTo(HaveOccurred(), "%s %s", method, path)
	return r
}

func incomplete(async bool) url.Values {
	if async {
		return url.Values{"accepts_incomplete": {"true"}}
	}
	return nil
}

func instancePath(id string) string { return "/v2/service_instances/" + id }

func bindingPath(id, bindingID string) string {
	return instancePath(id) + "/service_bindings/" + bindingID
}

func planQuery(p plan, extra url.Values) url.Values {
	q := url.Values{"service_id": {p.serviceID}, "plan_id": {p.planID}}
	for k, v := range extra {
		q[k] = v
	}
	return q
}

// provisionBody is what Cloud Foundry sends to create an instance of p.
func provisionBody(p plan, params map[string]any) map[string]any {
	org, space := newID(), newID()
	body := map[string]any{
		"service_id":        p.serviceID,
		"plan_id":           p.planID,
		"organization_guid": org,
		"space_guid":        space,
		"context": map[string]any{
			"platform":          "cloudfoundry",
			"organization_guid": org,
			"space_guid":        space,
			"organization_name": "acceptance-org",
			"space_name":        "acceptance-space",
		},
	}
	if params != nil {
		body["parameters"] = params
	}
	return body
}

// updateBody is what Cloud Foundry sends to move an instance from one plan to another.
func updateBody(from, to plan, params map[string]any) map[string]any {
	body := map[string]any{
		"service_id": to.serviceID,
		"plan_id":    to.planID,
		"previous_values": map[string]any{
			"service_id": from.serviceID,
			"plan_id":    from.planID,
		},
		"context": map[string]any{"platform": "cloudfoundry"},
	}
	if params != nil {
		body["parameters"] = params
	}
	return body
}

// bindBody is what Cloud Foundry sends to bind an app to an instance of p.
func bindBody(p plan, appGUID string, params map[string]any) map[string]any {
	body := map[string]any{
		"service_id":    p.serviceID,
		"plan_id":       p.planID,
		"app_guid":      appGUID,
		"bind_resource": map[string]any{"app_guid": appGUID},
		"context":       map[string]any{"platform": "cloudfoundry"},
	}
	if params != nil {
		body["parameters"] = params
	}
	return body
}

func (c *osbClient) catalog() response {
	GinkgoHelper()
	return c.do(http.MethodGet, "/v2/catalog", nil, nil)
}

func (c *osbClient) provision(id string, body any, async bool) response {
	GinkgoHelper()
	return c.do(http.MethodPut, instancePath(id), incomplete(async), body)
}

func (c *osbClient) update(id string, body any, async bool) response {
	GinkgoHelper()
	return c.do(http.MethodPatch, instancePath(id), incomplete(async), body)
}

func (c *osbClient) deprovision(id string, p plan, async bool) response {
	GinkgoHelper()
	return c.do(http.MethodDelete, instancePath(id), planQuery(p, incomplete(async)), nil)
}

func (c *osbClient) getInstance(id string) response {
	GinkgoHelper()
	return c.do(http.MethodGet, instancePath(id), nil, nil)
}

// lastOperation polls the instance; operation "" leaves the parameter out.
func (c *osbClient) lastOperation(id string, p plan, operation string) response {
	GinkgoHelper()
	q := planQuery(p, nil)
	if operation != "" {
		q.Set("operation", operation)
	}
	return c.do(http.MethodGet, instancePath(id)+"/last_operation", q, nil)
}

func (c *osbClient) bind(id, bindingID string, body any, async bool) response {
	GinkgoHelper()
	return c.do(http.MethodPut, bindingPath(id, bindingID), incomplete(async), body)
}

func (c *osbClient) unbind(id, bindingID string, p plan, async bool) response {
	GinkgoHelper()
	return c.do(http.MethodDelete, bindingPath(id, bindingID), planQuery(p, incomplete(async)), nil)
}

func (c *osbClient) getBinding(id, bindingID string) response {
	GinkgoHelper()
	return c.do(http.MethodGet, bindingPath(id, bindingID), nil, nil)
}

func (c *osbClient) bindingLastOperation(id, bindingID string, p plan, operation string) response {
	GinkgoHelper()
	q := planQuery(p, nil)
	if operation != "" {
		q.Set("operation", operation)
	}
	return c.do(http.MethodGet, bindingPath(id, bindingID)+"/last_operation", q, nil)
}

// operationOf returns the operation of a 202 answer, which must carry one.
func operationOf(r response) string {
	GinkgoHelper()
	op := r.str("operation")
	Expect(op).NotTo(BeEmpty(), "a 202 answer carries an operation: %s", r)
	return op
}

// await polls a last_operation endpoint until the operation leaves "in progress" and
// returns the final answer. Every in-progress answer it saw must carry Retry-After in whole
// seconds.
func await(poll func() response, timeout time.Duration) response {
	GinkgoHelper()
	var last response
	var retryAfters []string
	Eventually(func(g Gomega) string {
		last = poll()
		g.Expect(last.Status).To(Equal(http.StatusOK), last.String())
		state := last.str("state")
		if state == "in progress" {
			retryAfters = append(retryAfters, last.Header.Get("Retry-After"))
		}
		return state
	}).WithTimeout(timeout).Should(BeElementOf("succeeded", "failed"))
	for _, ra := range retryAfters {
		Expect(ra).To(MatchRegexp(`^[0-9]+$`), "an in-progress last_operation answers Retry-After in whole seconds")
	}
	return last
}

func expectSucceeded(r response) {
	GinkgoHelper()
	Expect(r.str("state")).To(Equal("succeeded"), "the operation failed: %s", r)
}

func (c *osbClient) awaitInstance(id string, p plan, operation string) response {
	GinkgoHelper()
	return await(func() response { return c.lastOperation(id, p, operation) }, 60*time.Second)
}

func (c *osbClient) awaitBinding(id, bindingID string, p plan, operation string) response {
	GinkgoHelper()
	return await(func() response { return c.bindingLastOperation(id, bindingID, p, operation) }, 60*time.Second)
}

// provisionReady provisions as Cloud Foundry does and waits until the instance is ready;
// it returns the first answer.
func (c *osbClient) provisionReady(id string, p plan, params map[string]any) response {
	GinkgoHelper()
	r := c.provision(id, provisionBody(p, params), true)
	Expect(r.Status).To(BeElementOf(http.StatusCreated, http.StatusAccepted), r.String())
	if r.Status == http.StatusAccepted {
		expectSucceeded(c.awaitInstance(id, p, operationOf(r)))
	}
	return r
}

// deprovisionGone deprovisions as Cloud Foundry does (retrying while another operation
// runs) and waits until the instance is gone.
func (c *osbClient) deprovisionGone(id string, p plan) {
	GinkgoHelper()
	var r response
	Eventually(func(g Gomega) {
		r = c.deprovision(id, p, true)
		g.Expect(r.Status).To(BeElementOf(http.StatusOK, http.StatusAccepted, http.StatusGone), r.String())
	}).Should(Succeed())
	if r.Status == http.StatusAccepted {
		expectSucceeded(c.awaitInstance(id, p, operationOf(r)))
	}
}

// credentials is the credentials object of a bind answer.
type credentials map[string]any

func (c credentials) str(key string) string {
	s, _ := c[key].(string)
	return s
}

func credentialsOf(r response) credentials {
	GinkgoHelper()
	creds, ok := r.Body["credentials"].(map[string]any)
	Expect(ok).To(BeTrue(), "the answer carries a credentials object: %s", r)
	cr := credentials(creds)
	rememberSecret("a binding's password", cr.str("password"))
	rememberSecret("a binding's uri", cr.str("uri"))
	rememberSecret("a binding's jdbcUrl", cr.str("jdbcUrl"))
	return cr
}

// bindReady binds as Cloud Foundry does and returns the credentials, from the bind answer
// (201) or, after polling, from GET binding (202).
func (c *osbClient) bindReady(id, bindingID string, p plan, appGUID string) credentials {
	GinkgoHelper()
	r := c.bind(id, bindingID, bindBody(p, appGUID, nil), true)
	Expect(r.Status).To(BeElementOf(http.StatusCreated, http.StatusAccepted), r.String())
	if r.Status == http.StatusAccepted {
		expectSucceeded(c.awaitBinding(id, bindingID, p, operationOf(r)))
		r = c.getBinding(id, bindingID)
		Expect(r.Status).To(Equal(http.StatusOK), r.String())
	}
	return credentialsOf(r)
}

// unbindGone unbinds as Cloud Foundry does and waits until the binding is gone.
func (c *osbClient) unbindGone(id, bindingID string, p plan) {
	GinkgoHelper()
	var r response
	Eventually(func(g Gomega) {
		r = c.unbind(id, bindingID, p, true)
		g.Expect(r.Status).To(BeElementOf(http.StatusOK, http.StatusAccepted, http.StatusGone), r.String())
	}).Should(Succeed())
	if r.Status == http.StatusAccepted {
		expectSucceeded(c.awaitBinding(id, bindingID, p, operationOf(r)))
	}
}

// expectOSBError checks an error answer: the status, a JSON content type, and an OSB error
// body whose description says what went wrong.
func expectOSBError(r response, status int) {
	GinkgoHelper()
	Expect(r.Status).To(Equal(status), r.String())
	Expect(r.Header.Get("Content-Type")).To(HavePrefix("application/json"), r.String())
	Expect(r.Body).NotTo(BeNil(), "the body is a JSON object: %s", r)
	Expect(r.Body).To(HaveKeyWithValue("description", And(BeAssignableToTypeOf(""), Not(BeEmpty()))), r.String())
}

// expectOSBErrorCode is expectOSBError plus the OSB "error" code.
func expectOSBErrorCode(r response, status int, code string) {
	GinkgoHelper()
	expectOSBError(r, status)
	Expect(r.Body).To(HaveKeyWithValue("error", code), r.String())
}

// expectJSONObject checks an answer whose body OSB specifies as a JSON object that may be
// empty ({}): 410 Gone.
func expectJSONObject(r response, status int) {
	GinkgoHelper()
	Expect(r.Status).To(Equal(status), r.String())
	Expect(r.Header.Get("Content-Type")).To(HavePrefix("application/json"), r.String())
	Expect(r.Body).NotTo(BeNil(), "the body is a JSON object: %s", r)
}

// backendDatabase is the name of the PostgreSQL database the broker creates for an instance.
func backendDatabase(instanceID string) string {
	sum := sha256.Sum256([]byte(instanceID + "\x00"))
	return "ob_" + hex.EncodeToString(sum[:])[:24]
}

func databaseExists(name string) bool {
	GinkgoHelper()
	var n int
	Expect(adminDB.QueryRow(`SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n)).To(Succeed())
	return n > 0
}

func roleExists(name string) bool {
	GinkgoHelper()
	var n int
	Expect(adminDB.QueryRow(`SELECT count(*) FROM pg_roles WHERE rolname = $1`, name).Scan(&n)).To(Succeed())
	return n > 0
}

// connect logs in with an application's uri; it returns the connection (closed when the
// spec ends) or the error of logging in.
func connect(uri string) (*sql.DB, error) {
	db, err := sql.Open("postgres", uri)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	DeferCleanup(db.Close)
	return db, nil
}

func mustConnect(uri string) *sql.DB {
	GinkgoHelper()
	db, err := connect(uri)
	Expect(err).NotTo(HaveOccurred(), "logging in with the binding's uri")
	return db
}

func asJSON(v any) string {
	b, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// with returns a copy of body with key set to value (or removed, for nil).
func with(body map[string]any, key string, value any) map[string]any {
	out := make(map[string]any, len(body))
	for k, v := range body {
		out[k] = v
	}
	if value == nil {
		delete(out, key)
	} else {
		out[key] = value
	}
	return out
}

// dropLeftoverDatabase drops the instance's backend database when the spec ends, in case a
// failed spec left it behind on the shared server; a passing spec has removed it already.
func dropLeftoverDatabase(instanceID string) {
	DeferCleanup(func() {
		_, err := adminDB.Exec("DROP DATABASE IF EXISTS " + pq.QuoteIdentifier(backendDatabase(instanceID)) + " WITH (FORCE)")
		Expect(err).NotTo(HaveOccurred())
	})
}

// placementLock holds, in its own transaction on a broker's state database, the advisory
// lock a worker takes before it places a new instance on a node. While it is held every
// provision of the catalog's postgres backend stays running in its worker: real delay,
// without a fake.
type placementLock struct {
	tx   *sql.Tx
	once sync.Once
}

// holdPlacementLock takes the placement lock of the postgres backend on state and releases
// it when the current node ends, unless the spec released it first.
func holdPlacementLock(state stateDB) *placementLock {
	GinkgoHelper()
	tx, err := state.open().BeginTx(context.Background(), nil)
	Expect(err).NotTo(HaveOccurred())
	_, err = tx.Exec(`SELECT pg_advisory_xact_lock(hashtextextended('omnibroker-placement:' || $1::text, 0))`, "postgres")
	Expect(err).NotTo(HaveOccurred())
	l := &placementLock{tx: tx}
	DeferCleanup(l.release)
	return l
}

// release lets the waiting provisions go on; only its first call does anything.
func (l *placementLock) release() {
	// A failed rollback means the connection is gone, and the lock went with it.
	l.once.Do(func() { _ = l.tx.Rollback() })
}

// releaseAfter releases the lock after d, from a goroutine of its own, while the spec is
// blocked in a request.
func (l *placementLock) releaseAfter(d time.Duration) {
	time.AfterFunc(d, l.release)
}

// count runs a query of one integer on db.
func count(db *sql.DB, query string, args ...any) int {
	GinkgoHelper()
	var n int
	Expect(db.QueryRow(query, args...).Scan(&n)).To(Succeed(), query)
	return n
}

// expectNoInstanceStored checks in the state database that nothing was recorded for the
// instance: no instance row and no operation. GET cannot tell, since it answers 404 to an
// instance that is still provisioning, or whose provision failed, too.
func expectNoInstanceStored(state *sql.DB, instanceID string) {
	GinkgoHelper()
	Expect(count(state, `SELECT count(*) FROM instances WHERE id = $1`, instanceID)).To(BeZero(), "an instance row was stored")
	Expect(count(state, `SELECT count(*) FROM operations WHERE instance_id = $1`, instanceID)).To(BeZero(), "an operation was stored for the instance")
}

// expectNoBindingStored is expectNoInstanceStored for a binding: no binding row and no
// operation on it.
func expectNoBindingStored(state *sql.DB, bindingID string) {
	GinkgoHelper()
	Expect(count(state, `SELECT count(*) FROM bindings WHERE id = $1`, bindingID)).To(BeZero(), "a binding row was stored")
	Expect(count(state, `SELECT count(*) FROM operations WHERE binding_id = $1`, bindingID)).To(BeZero(), "an operation was stored for the binding")
}

// operationStates returns the states of the instance's operations of kind, oldest first.
func operationStates(state *sql.DB, instanceID, kind string) []string {
	GinkgoHelper()
	rows, err := state.Query(`SELECT state FROM operations WHERE instance_id = $1 AND kind = $2 ORDER BY created_at`, instanceID, kind)
	Expect(err).NotTo(HaveOccurred())
	defer rows.Close()
	var states []string
	for rows.Next() {
		var s string
		Expect(rows.Scan(&s)).To(Succeed())
		states = append(states, s)
	}
	Expect(rows.Err()).NotTo(HaveOccurred())
	return states
}
