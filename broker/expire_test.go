package broker_test

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/broker"
)

// expiringLifetime is the binding_lifetime of expiringPlan.
const expiringLifetime = 3 * time.Second

// osbTimePattern is the spec's yyyy-mm-ddThh:mm:ss.sZ, as the broker writes it.
const osbTimePattern = `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`

// metadataTimes reads a binding answer's metadata.expires_at and renew_before.
func metadataTimes(resp response) (expiresAt, renewBefore time.Time) {
	GinkgoHelper()
	meta, ok := resp.body["metadata"].(map[string]any)
	Expect(ok).To(BeTrue(), "the answer has a metadata object")
	for key, t := range map[string]*time.Time{"expires_at": &expiresAt, "renew_before": &renewBefore} {
		s, _ := meta[key].(string)
		Expect(s).To(MatchRegexp(osbTimePattern), key)
		var err error
		*t, err = time.Parse(time.RFC3339, s)
		Expect(err).NotTo(HaveOccurred(), key)
	}
	return expiresAt, renewBefore
}

var _ = Describe("Binding expiry", func() {
	DescribeTable("writes a binding's times in UTC as the spec's yyyy-mm-ddThh:mm:ss.sZ, with milliseconds",
		func(t time.Time, want string) { Expect(broker.OSBTime(t)).To(Equal(want)) },
		Entry("a time in UTC", time.Date(2026, 12, 1, 17, 40, 5, 0, time.UTC), "2026-12-01T17:40:05.000Z"),
		Entry("a time in another zone", time.Date(2026, 12, 1, 18, 40, 5, 123456789, time.FixedZone("CET", 3600)), "2026-12-01T17:40:05.123Z"),
		Entry("the turn of a year", time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC), "2026-12-31T23:59:59.999Z"),
	)

	It("gives a binding of a plan without a lifetime no metadata", func() {
		id := readyInstance(quickPlan)
		resp := bind(id, uuid.NewString(), bindBody(quickPlan, uuid.NewString()), true)
		Expect(resp.status).To(Equal(201))
		Expect(resp.body).NotTo(HaveKey("metadata"))
	})

	It("answers expires_at and renew_before, removes the login once it expires, and says so on GET binding", func() {
		id := readyInstance(expiringPlan)
		bindingID, app := uuid.NewString(), uuid.NewString()
		before := time.Now()
		resp := bind(id, bindingID, bindBody(expiringPlan, app), true)
		unbindAtEnd(id, bindingID, expiringPlan)
		Expect(resp.status).To(Equal(201))
		creds, _ := resp.body["credentials"].(map[string]any)
		expiresAt, renewBefore := metadataTimes(resp)
		Expect(expiresAt).To(BeTemporally("~", before.Add(expiringLifetime), 2*time.Second))
		Expect(renewBefore).To(BeTemporally("<", expiresAt))
		Expect(renewBefore).To(BeTemporally(">", expiresAt.Add(-expiringLifetime)))

		By("showing the same times on GET binding, and in older versions only what they know")
		got := call("GET", bindingPath(id, bindingID), nil)
		Expect(got.body["metadata"]).To(Equal(resp.body["metadata"]))
		Expect(call("GET", bindingPath(id, bindingID), nil, speaking("2.16")).body["metadata"]).To(Equal(map[string]any{
			"expires_at": resp.body["metadata"].(map[string]any)["expires_at"],
		}))
		Expect(call("GET", bindingPath(id, bindingID), nil, speaking("2.15")).body).NotTo(HaveKey("metadata"))

		By("removing the login once the lifetime has run out")
		Eventually(func() bool { return loginWorks(creds) }, 20*time.Second, 200*time.Millisecond).Should(BeFalse())
		Eventually(func() string { return bindingState(bindingID) }, 10*time.Second, 100*time.Millisecond).Should(Equal("expired"))
		got = call("GET", bindingPath(id, bindingID), nil)
		Expect(got.status).To(Equal(200))
		Expect(got.body).NotTo(HaveKey("credentials"), "an expired binding hands out no credentials")
		Expect(got.body["metadata"]).To(Equal(resp.body["metadata"]))
		Expect(poll(id, bindingID, "").body).To(HaveKeyWithValue("description", "the binding expired and its login was removed from its node"))

		By("answering the same PUT with 200 and no credentials")
		again := bind(id, bindingID, bindBody(expiringPlan, app), true)
		Expect(again.status).To(Equal(200))
		Expect(again.body).NotTo(HaveKey("credentials"))

		By("unbinding at once with 200, and 410 after")
		Expect(unbind(id, bindingID, expiringPlan, false).status).To(Equal(200))
		Expect(rowsOf(id).bindings).To(BeZero())
		Expect(unbind(id, bindingID, expiringPlan, false).status).To(Equal(410))
	})

	It("refuses to rotate an expired binding with 400, and gives a rotated binding a lifetime of its own", func() {
		id := readyInstance(expiringPlan)
		first := boundBinding(id, expiringPlan)
		second := uuid.NewString()
		resp := bind(id, second, map[string]any{"predecessor_binding_id": first.id}, true)
		unbindAtEnd(id, second, expiringPlan)
		Expect(resp.status).To(Equal(201))
		firstExpires, _ := metadataTimes(call("GET", bindingPath(id, first.id), nil))
		secondExpires, _ := metadataTimes(resp)
		Expect(secondExpires).To(BeTemporally(">", firstExpires))

		Eventually(func() string { return bindingState(first.id) }, 20*time.Second, 100*time.Millisecond).Should(Equal("expired"))
		expectRefusal(bind(id, uuid.NewString(), map[string]any{"predecessor_binding_id": first.id}, true), 400, "")
	})
})

// speaking makes a request speak OSB version v.
func speaking(v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("X-Broker-API-Version", v) }
}

// bindingState is the state column of the binding's row.
func bindingState(bindingID string) string {
	GinkgoHelper()
	var state string
	Expect(st.DB().Get(&state, "SELECT state FROM bindings WHERE id = $1", bindingID)).To(Succeed())
	return state
}
