package acceptance_test

import (
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Rotating the platform's password", func() {
	It("accepts the old and the next credential while both are set, then the next alone, so the platform moves without a refused request", func() {
		state := newStateDB()
		nextUser, nextPassword := "platform-next", randomBase62(32)
		rememberSecret("the next basic-auth password", nextPassword)

		By("adding the next credential beside the current one")
		first := startBroker(state, map[string]string{"OMNIBROKER_NEXT_USERNAME": nextUser, "OMNIBROKER_NEXT_PASSWORD": nextPassword})
		current := first.client()
		next := first.client()
		next.username, next.password = nextUser, nextPassword
		id := newID()
		Expect(current.provision(id, provisionBody(quickPlan, nil), true).Status).To(Equal(http.StatusCreated))
		Expect(next.getInstance(id).Status).To(Equal(http.StatusOK), "the next credential works at once")
		Expect(current.getInstance(id).Status).To(Equal(http.StatusOK), "and the current one still does")
		for _, spoil := range []func(c *osbClient){
			func(c *osbClient) { c.password = "wrong-" + randomBase62(8) },
			func(c *osbClient) { c.username = nextUser },                 // the current password with the next user
			func(c *osbClient) { c.password = nextPassword },             // the next password with the current user
			func(c *osbClient) { c.username, c.password = nextUser, "" }, // no password at all
		} {
			mixed := first.client()
			spoil(mixed)
			expectOSBErrorCode(mixed.getInstance(id), http.StatusUnauthorized, "Unauthorized")
		}

		By("moving the platform to the next credential and making it the only one, replica by replica")
		second := startBroker(state, map[string]string{"OMNIBROKER_USERNAME": nextUser, "OMNIBROKER_PASSWORD": nextPassword})
		moved := second.client()
		moved.username, moved.password = nextUser, nextPassword
		Expect(moved.getInstance(id).Status).To(Equal(http.StatusOK))
		Expect(next.getInstance(id).Status).To(Equal(http.StatusOK), "the replica not yet restarted takes the next credential too")
		stale := second.client()
		expectOSBErrorCode(stale.getInstance(id), http.StatusUnauthorized, "Unauthorized")
		first.stop()
		moved.deprovisionGone(id, quickPlan)
	})
})
