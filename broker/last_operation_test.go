package broker_test

import (
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/broker"
	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("LastOperation", func() {
	DescribeTable("an instance or binding that does not exist answers 410 Gone",
		func(route func() (string, string), opID string) {
			id, bindingID := route()
			expectRefusal(poll(id, bindingID, opID), 410, "")
		},
		Entry("an instance, without an operation id", func() (string, string) { return uuid.NewString(), "" }, ""),
		Entry("an instance, with an operation id it never issued", func() (string, string) { return uuid.NewString(), "" }, uuid.NewString()),
		Entry("a binding of an instance that exists", func() (string, string) { return readyInstance(cachePlan), uuid.NewString() }, ""),
	)

	When("the operation runs", func() {
		It("answers in progress, what it is doing, and Retry-After 1", func() {
			id, opID := heldProvision()
			for _, asked := range []string{opID, ""} {
				resp := poll(id, "", asked)
				Expect(resp.status).To(Equal(200))
				Expect(resp.body).To(Equal(map[string]any{"state": "in progress", "description": "provision is running"}))
				Expect(resp.header.Get("Retry-After")).To(Equal("1"))
			}
		})
	})

	When("the operation waits on its backoff", func() {
		It("answers in progress with Retry-After the whole seconds until its next attempt", func() {
			id := readyInstance(cachePlan)
			op := waiting(store.OpUpdate, id, "", store.UpdateRequest{PlanID: cachePlan, PreviousPlanID: cachePlan})
			resp := poll(id, "", op.ID)
			Expect(resp.body).To(HaveKeyWithValue("state", "in progress"))
			Expect(resp.body).To(HaveKeyWithValue("description", "update is queued"))
			seconds, err := strconv.Atoi(resp.header.Get("Retry-After"))
			Expect(err).NotTo(HaveOccurred())
			Expect(time.Duration(seconds) * time.Second).To(BeNumerically("~", time.Until(op.RunAfter), 5*time.Second))
		})
	})

	When("the operation has finished", func() {
		It("answers succeeded with a sentence and no Retry-After, by its id and as the latest", func() {
			id := uuid.NewString()
			deleteAtEnd(id)
			opID := startedOperation(provision(id, asyncPlan, true), id, "")
			finished(id, "", opID)
			for _, asked := range []string{opID, ""} {
				resp := poll(id, "", asked)
				Expect(resp.body).To(Equal(map[string]any{"state": "succeeded", "description": "the service instance is ready"}))
				Expect(resp.header).NotTo(HaveKey("Retry-After"))
			}
		})

		It("still answers for a deprovision by its id once the instance is gone, and 410 without it", func() {
			id := readyInstance(asyncPlan)
			opID := startedOperation(deprovision(id, asyncPlan, true), id, "")
			Expect(finished(id, "", opID).body).To(HaveKeyWithValue("state", "succeeded"))
			expectRefusal(poll(id, "", ""), 410, "")
			Expect(poll(id, "", opID).body).To(HaveKeyWithValue("description", "the service instance was deleted"))
		})
	})

	DescribeTable("a failed operation says whether the instance is still usable",
		func(failed func() (string, string), usable any) {
			id, opID := failed()
			resp := poll(id, "", opID)
			Expect(resp.body).To(HaveKeyWithValue("state", "failed"))
			Expect(resp.body).To(HaveKeyWithValue("description", Not(BeEmpty())))
			if usable == nil {
				Expect(resp.body).NotTo(HaveKey("instance_usable"))
			} else {
				Expect(resp.body).To(HaveKeyWithValue("instance_usable", usable))
			}
		},
		Entry("a provision, after which there is no instance to use", func() (string, string) { return failedInstance(), "" }, nil),
		Entry("a deprovision, which may have removed part of it", deleteFailedInstance, false),
		Entry("an update, which leaves it as it was", func() (string, string) {
			id := readyInstance(asyncPlan)
			dropDatabase(boundBinding(id, asyncPlan).creds["name"])
			opID := startedOperation(update(id, updateBody("", map[string]any{"a": 1}), true), id, "")
			Expect(finished(id, "", opID).body).To(HaveKeyWithValue("state", "failed"))
			return id, opID
		}, true),
	)

	Describe("an operation id that belongs elsewhere", Ordered, func() {
		var id, provisionOp, bindOp string
		var b binding
		BeforeAll(func() {
			id = uuid.NewString()
			deleteAtEnd(id)
			provisionOp = startedOperation(provision(id, asyncPlan, true), id, "")
			finished(id, "", provisionOp)
			b = binding{id: uuid.NewString(), app: uuid.NewString()}
			bindOp = startedOperation(bind(id, b.id, bindBody(asyncPlan, b.app), true), id, b.id)
			DeferCleanup(func() { Expect(unbind(id, b.id, asyncPlan, true).status).To(Equal(202)) })
			Expect(finished(id, b.id, bindOp).body).To(HaveKeyWithValue("description", "the binding is ready"))
		})

		DescribeTable("answers for the latest operation of what was asked about, as if none had been named",
			func(route func() (string, string, string), description string) {
				resp := poll(route())
				Expect(resp.status).To(Equal(200), "body %v", resp.body)
				Expect(resp.body).To(Equal(map[string]any{"state": "succeeded", "description": description}))
			},
			Entry("another instance's", func() (string, string, string) { return readyInstance(cachePlan), "", provisionOp }, "the service instance is ready"),
			Entry("one never issued", func() (string, string, string) { return id, "", uuid.NewString() }, "the service instance is ready"),
			Entry("the literal provision, as the OSB checker's Go suite sends", func() (string, string, string) { return id, "", "provision" }, "the service instance is ready"),
			Entry("its binding's, asked of the instance", func() (string, string, string) { return id, "", bindOp }, "the service instance is ready"),
			Entry("the instance's, asked of its binding", func() (string, string, string) { return id, b.id, provisionOp }, "the binding is ready"),
			Entry("the literal bind, asked of its binding", func() (string, string, string) { return id, b.id, "bind" }, "the binding is ready"),
		)

		It("still answers 400 BadRequest for a malformed one", func() {
			for _, bindingID := range []string{"", b.id} {
				expectRefusal(poll(id, bindingID, strings.Repeat("x", broker.MaxIDBytes+1)), 400, "BadRequest")
				expectRefusal(poll(id, bindingID, "a%00b"), 400, "BadRequest")
			}
		})
	})
})
