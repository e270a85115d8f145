package acceptance_test

// A small OSB client that speaks to a broker as Cloud Foundry does, and the checks of its
// answers.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// osbClient is a small OSB client. Empty fields leave their header out.
type osbClient struct {
	baseURL  string
	username string
	password string
	noAuth   bool
	version  string
	userID   string
	// spoil, when set, changes each request last, just before it is sent.
	spoil func(*http.Request)
	http  *http.Client
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
	if c.spoil != nil {
		c.spoil(req)
	}
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
	rememberSecret("a binding's http_api_uri", cr.str("http_api_uri"))
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
