package acceptance_test

import (
	"encoding/json"
	"net/http"
	"os/user"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// withAdmin is the environment of a broker with the operator API on, and extra.
func withAdmin(extra map[string]string) map[string]string {
	env := map[string]string{"OMNIBROKER_ADMIN_USERNAME": adminUsername, "OMNIBROKER_ADMIN_PASSWORD": adminPassword}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// adminClient speaks to b's operator API as an operator's script does: the operator's
// login, no OSB headers.
func (b *broker) adminClient() *osbClient {
	c := b.client()
	c.username, c.password, c.version, c.userID = adminUsername, adminPassword, "", ""
	return c
}

// repairRow is one repair as GET /admin/v1/repairs lists it.
type repairRow struct {
	RequestedBy    string `json:"requested_by"`
	Via            string `json:"via"`
	Action         string `json:"action"`
	Target         string `json:"target"`
	OperationID    string `json:"operation_id"`
	Outcome        string `json:"outcome"`
	OperationState string `json:"operation_state"`
}

// repairsOf lists the repairs b's operator API has recorded.
func repairsOf(b *broker) []repairRow {
	GinkgoHelper()
	var answer struct {
		Repairs []repairRow `json:"repairs"`
	}
	r := b.adminClient().do(http.MethodGet, "/admin/v1/repairs", nil, nil)
	Expect(r.Status).To(Equal(http.StatusOK), r.String())
	Expect(json.Unmarshal(r.Raw, &answer)).To(Succeed())
	return answer.Repairs
}

var _ = Describe("The operator API", func() {
	It("is refused when its login is not set, and takes neither the platform's login nor gives its own to the OSB API", func() {
		off := startBroker(newStateDB(), nil)
		r := off.adminClient().do(http.MethodGet, "/admin/v1/orphans", nil, nil)
		Expect(r.Status).To(Equal(http.StatusForbidden), r.String())
		Expect(r.str("description")).To(ContainSubstring("OMNIBROKER_ADMIN_USERNAME"))

		on := startBroker(newStateDB(), withAdmin(nil))
		platform := on.client()
		platform.version, platform.userID = "", ""
		r = platform.do(http.MethodGet, "/admin/v1/repairs", nil, nil)
		Expect(r.Status).To(Equal(http.StatusUnauthorized), "the platform's login: %s", r)
		Expect(r.Header.Get("WWW-Authenticate")).To(ContainSubstring("omnibroker-admin"))
		operatorOnOSB := on.adminClient()
		operatorOnOSB.version = "2.15"
		r = operatorOnOSB.do(http.MethodGet, "/v2/catalog", nil, nil)
		Expect(r.Status).To(Equal(http.StatusUnauthorized), "the operator's login on the OSB API: %s", r)
		r = on.adminClient().do(http.MethodGet, "/admin/v1/repairs", nil, nil)
		Expect(r.Status).To(Equal(http.StatusOK), r.String())
	})

	It("refuses to start with an operator password that is the platform's", func() {
		env := brokerEnv(newStateDB(), "127.0.0.1:0")
		env["OMNIBROKER_ADMIN_USERNAME"], env["OMNIBROKER_ADMIN_PASSWORD"] = adminUsername, brokerPassword
		s := runBinary(env, "serve")
		Expect(s.ExitCode()).To(Equal(1))
		Expect(string(s.Err.Contents())).To(ContainSubstring("OMNIBROKER_ADMIN_PASSWORD is one of the platform's passwords"))
	})

	It("finds an orphan, has the running broker purge it, and records who asked, as the CLI's repairs are", func(ctx SpecContext) {
		state := newStateDB()
		b := startBroker(state, withAdmin(nil))
		cf := b.client()
		liveID := newID()
		cf.provisionReady(liveID, redisPlan, nil)
		DeferCleanup(cf.deprovisionGone, liveID, redisPlan)

		By("forgetting two instances behind the broker's back")
		var orphaned []string
		for range 2 {
			id, bindingID := newID(), newID()
			cf.provisionReady(id, redisPlan, nil)
			cf.bindReady(id, bindingID, redisPlan, newID())
			forget(state, id)
			orphaned = append(orphaned, loginName(id, bindingID))
		}
		DeferCleanup(func() {
			for _, name := range orphaned {
				orphans(state, nil, "--backend", "redis", "--object", name, "--purge", "--yes")
			}
		})

		By("finding them through GET /admin/v1/orphans")
		admin := b.adminClient()
		var found orphansReport
		r := admin.do(http.MethodGet, "/admin/v1/orphans", map[string][]string{"backend": {"redis"}}, nil)
		Expect(r.Status).To(Equal(http.StatusOK), r.String())
		Expect(json.Unmarshal(r.Raw, &found)).To(Succeed())
		Expect(r.Body).To(HaveKeyWithValue("found", true))
		Expect(names(found.Orphans)).To(ContainElements(orphaned))

		By("purging the first through POST /admin/v1/orphans/purge, which the broker's workers run")
		r = admin.do(http.MethodPost, "/admin/v1/orphans/purge", nil, map[string]string{"backend": "redis", "object": orphaned[0]})
		Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
		Eventually(func(g Gomega) {
			r := admin.do(http.MethodGet, "/admin/v1/orphans", map[string][]string{"backend": {"redis"}, "object": {orphaned[0]}}, nil)
			g.Expect(r.Body).To(HaveKeyWithValue("found", false), r.String())
		}, 30*time.Second).Should(Succeed())

		By("purging the second with the CLI")
		code, _ := orphans(state, nil, "--backend", "redis", "--object", orphaned[1], "--purge", "--yes")
		Expect(code).To(Equal(0))

		By("listing both repairs, who asked and how they went")
		me, err := user.Current()
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() []repairRow { return repairsOf(b) }, 30*time.Second).Should(ContainElements(
			SatisfyAll(HaveField("RequestedBy", adminUsername), HaveField("Via", "api"), HaveField("Action", "orphans purge"),
				HaveField("Target", ContainSubstring(orphaned[0])), HaveField("Outcome", "queued"), HaveField("OperationState", "succeeded")),
			SatisfyAll(HaveField("RequestedBy", me.Username), HaveField("Via", "cli"), HaveField("Action", "orphans purge"),
				HaveField("Target", ContainSubstring(orphaned[1])), HaveField("Outcome", "queued"), HaveField("OperationState", "succeeded")),
		))
		Expect(admin.do(http.MethodGet, "/admin/v1/orphans", map[string][]string{"backend": {"redis"}}, nil).Body["missing"]).To(BeEmpty(),
			"the live instance keeps its objects")
	})

	It("answers a request it does not take with a sentence and the right status", func() {
		admin := startBroker(newStateDB(), withAdmin(nil)).adminClient()
		for _, c := range []struct {
			method, path string
			query        map[string][]string
			body         any
			status       int
		}{
			{http.MethodGet, "/admin/v1/nothing", nil, nil, http.StatusNotFound},
			{http.MethodDelete, "/admin/v1/orphans", nil, nil, http.StatusMethodNotAllowed},
			{http.MethodGet, "/admin/v1/orphans", map[string][]string{"backend": {"no-such-backend"}}, nil, http.StatusBadRequest},
			{http.MethodGet, "/admin/v1/orphans", map[string][]string{"colour": {"blue"}}, nil, http.StatusBadRequest},
			{http.MethodGet, "/admin/v1/repairs", map[string][]string{"limit": {"0"}}, nil, http.StatusBadRequest},
			{http.MethodPost, "/admin/v1/orphans/purge", nil, `{"backend":"redis","extra":1}`, http.StatusBadRequest},
			{http.MethodPost, "/admin/v1/orphans/purge", nil, `[1]`, http.StatusBadRequest},
		} {
			r := admin.do(c.method, c.path, c.query, c.body)
			Expect(r.Status).To(Equal(c.status), "%s %s: %s", c.method, c.path, r)
			Expect(r.str("error")).NotTo(BeEmpty(), r.String())
			Expect(r.str("description")).NotTo(BeEmpty(), r.String())
		}
	})
})
