package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("Claim", func() {
	It("takes the oldest queued operation, marks it running under a lease and counts the attempt", func(ctx SpecContext) {
		first, firstOp := createInstance(ctx)
		_, _ = createInstance(ctx)

		before := time.Now()
		op, err := st.Claim(ctx, "worker-1", time.Minute)
		Expect(err).NotTo(HaveOccurred())
		Expect(op.ID).To(Equal(firstOp.ID))
		Expect(op.InstanceID).To(Equal(first.ID))
		Expect(op.Kind).To(Equal(store.OpProvision))
		Expect(op.State).To(Equal(store.OpRunning))
		Expect(op.Attempt).To(Equal(1))
		Expect(op.LeaseOwner).To(Equal("worker-1"))
		Expect(op.LeaseExpiresAt).NotTo(BeNil())
		Expect(*op.LeaseExpiresAt).To(BeTemporally("~", before.Add(time.Minute), 5*time.Second))

		stored, err := st.GetOperation(ctx, op.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(stored.State).To(Equal(store.OpRunning))
		Expect(stored.LeaseOwner).To(Equal("worker-1"))
	})

	It("returns ErrNothingToClaim when nothing is queued", func(ctx SpecContext) {
		_, err := st.Claim(ctx, "worker-1", time.Minute)
		Expect(err).To(MatchError(store.ErrNothingToClaim))
	})

	It("never hands one operation to two concurrent claimers", func(ctx SpecContext) {
		queued := map[string]bool{}
		for range 5 {
			_, op := createInstance(ctx)
			queued[op.ID] = true
		}

		var (
			mu      sync.Mutex
			claimed []string
			wg      sync.WaitGroup
			errs    = make(chan error, 10)
		)
		for i := range 10 {
			wg.Go(func() {
				for {
					op, err := st.Claim(ctx, fmt.Sprintf("worker-%d", i), time.Minute)
					if errors.Is(err, store.ErrNothingToClaim) {
						return
					}
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					claimed = append(claimed, op.ID)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		Expect(errs).To(BeEmpty())

		Expect(claimed).To(HaveLen(5))
		seen := map[string]bool{}
		for _, id := range claimed {
			Expect(queued).To(HaveKey(id))
			Expect(seen).NotTo(HaveKey(id), "operation %s was claimed twice", id)
			seen[id] = true
		}
	})

	It("leaves an operation whose run_after is in the future", func(ctx SpecContext) {
		inst := newInstance()
		op := newOperation(store.OpProvision, inst.ID, "")
		op.RunAfter = time.Now().Add(time.Hour)
		Expect(st.CreateInstance(ctx, inst, op)).To(Succeed())

		_, err := st.Claim(ctx, "worker-1", time.Minute)
		Expect(err).To(MatchError(store.ErrNothingToClaim))
		stored, err := st.GetOperation(ctx, op.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(stored.State).To(Equal(store.OpQueued))
		Expect(stored.RunAfter).To(BeTemporally("~", op.RunAfter, time.Millisecond))
	})
})

var _ = Describe("Retry", func() {
	It("puts the operation back with its description, to run after the delay, counting the attempt", func(ctx SpecContext) {
		_, op := createInstance(ctx)
		claimed := claim(ctx, "worker-1", op.ID)

		Expect(st.Retry(ctx, claimed, time.Hour, "node pg-2 refused the connection; will retry")).To(Succeed())
		stored, err := st.GetOperation(ctx, op.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(stored.State).To(Equal(store.OpQueued))
		Expect(stored.Description).To(Equal("node pg-2 refused the connection; will retry"))
		Expect(stored.Attempt).To(Equal(1))
		Expect(stored.LeaseOwner).To(BeEmpty())
		Expect(stored.RunAfter).To(BeTemporally(">", time.Now().Add(59*time.Minute)))
		_, err = st.Claim(ctx, "worker-2", time.Minute)
		Expect(err).To(MatchError(store.ErrNothingToClaim), "the delay has not passed")

		Expect(st.DB().ExecContext(ctx, "UPDATE operations SET run_after = now() WHERE id = $1", op.ID)).Error().NotTo(HaveOccurred())
		again := claim(ctx, "worker-2", op.ID)
		Expect(again.Attempt).To(Equal(2))
		Expect(again.Description).To(Equal("node pg-2 refused the connection; will retry"))
	})
})

var _ = Describe("Release", func() {
	It("puts the operation back at once without counting the attempt", func(ctx SpecContext) {
		_, op := createInstance(ctx)
		claimed := claim(ctx, "worker-1", op.ID)
		Expect(st.Release(ctx, claimed)).To(Succeed())

		again := claim(ctx, "worker-2", op.ID)
		Expect(again.Attempt).To(Equal(1))
		Expect(st.Release(ctx, claimed)).To(MatchError(store.ErrLeaseLost), "worker-1 no longer holds it")
	})
})

var _ = Describe("Fencing", func() {
	var (
		inst         store.Instance
		stale, fresh store.Operation
	)
	// takeOver has worker-a claim a provision and stop, then secondOwner claim it again.
	takeOver := func(ctx context.Context, secondOwner string) {
		var op store.Operation
		inst, op = createInstance(ctx)
		stale = abandon(ctx, "worker-a", op.ID, noBackoff)
		fresh = claim(ctx, secondOwner, op.ID)
		Expect(fresh.Attempt).To(Equal(stale.Attempt + 1))
	}

	When("a lease expired and another worker took the operation over", func() {
		BeforeEach(func(ctx SpecContext) { takeOver(ctx, "worker-b") })

		It("refuses every write of the first worker and keeps the newer result", func(ctx SpecContext) {
			Expect(st.RenewLease(ctx, stale, time.Minute)).To(MatchError(store.ErrLeaseLost))
			Expect(st.Succeed(ctx, stale, nil)).To(MatchError(store.ErrLeaseLost))
			got, err := st.GetInstance(ctx, inst.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.State).To(Equal(store.InstanceProvisioning), "a refused Succeed must not touch the instance")

			Expect(st.Fail(ctx, fresh, "node pg-1 is full")).To(Succeed())

			Expect(st.Succeed(ctx, stale, nil)).To(MatchError(store.ErrLeaseLost))
			Expect(st.Retry(ctx, stale, 0, "retry")).To(MatchError(store.ErrLeaseLost))
			Expect(st.Release(ctx, stale)).To(MatchError(store.ErrLeaseLost))
			Expect(st.Fail(ctx, stale, "worker-a's result")).To(MatchError(store.ErrLeaseLost))

			stored, err := st.GetOperation(ctx, fresh.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(stored.State).To(Equal(store.OpFailed))
			Expect(stored.Description).To(Equal("node pg-1 is full"))
			got, err = st.GetInstance(ctx, inst.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.State).To(Equal(store.InstanceFailed))
		})

		It("lets the second worker renew its own lease", func(ctx SpecContext) {
			Expect(st.RenewLease(ctx, fresh, time.Hour)).To(Succeed())
			stored, err := st.GetOperation(ctx, fresh.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(*stored.LeaseExpiresAt).To(BeTemporally(">", time.Now().Add(59*time.Minute)))
		})
	})

	When("the same worker claims the operation again after its lease expired", func() {
		BeforeEach(func(ctx SpecContext) {
			takeOver(ctx, "worker-a")
			Expect(fresh.LeaseOwner).To(Equal(stale.LeaseOwner), "only the attempt tells the two claims apart")
		})

		DescribeTable("refuses the write of the earlier attempt and leaves the later one running",
			func(ctx SpecContext, write func(ctx context.Context, op store.Operation) error) {
				Expect(write(ctx, stale)).To(MatchError(store.ErrLeaseLost))

				stored, err := st.GetOperation(ctx, fresh.ID)
				Expect(err).NotTo(HaveOccurred())
				Expect(stored.State).To(Equal(store.OpRunning))
				Expect(stored.Attempt).To(Equal(fresh.Attempt))
				Expect(stored.LeaseOwner).To(Equal("worker-a"))
				Expect(stored.LeaseExpiresAt).NotTo(BeNil())
				Expect(*stored.LeaseExpiresAt).To(BeTemporally("~", *fresh.LeaseExpiresAt, time.Millisecond))
				got, err := st.GetInstance(ctx, inst.ID)
				Expect(err).NotTo(HaveOccurred())
				Expect(got.State).To(Equal(store.InstanceProvisioning))

				Expect(st.Succeed(ctx, fresh, nil)).To(Succeed())
				got, err = st.GetInstance(ctx, inst.ID)
				Expect(err).NotTo(HaveOccurred())
				Expect(got.State).To(Equal(store.InstanceReady))
			},
			Entry("Succeed", func(ctx context.Context, op store.Operation) error { return st.Succeed(ctx, op, nil) }),
			Entry("Fail", func(ctx context.Context, op store.Operation) error { return st.Fail(ctx, op, "late result") }),
			Entry("Retry", func(ctx context.Context, op store.Operation) error { return st.Retry(ctx, op, 0, "retry") }),
			Entry("Release", func(ctx context.Context, op store.Operation) error { return st.Release(ctx, op) }),
			Entry("RenewLease", func(ctx context.Context, op store.Operation) error { return st.RenewLease(ctx, op, time.Hour) }),
		)
	})

	It("refuses a second completion of a finished operation", func(ctx SpecContext) {
		_, op := createInstance(ctx)
		claimed := claim(ctx, "worker-1", op.ID)
		Expect(st.Succeed(ctx, claimed, nil)).To(Succeed())
		Expect(st.Fail(ctx, claimed, "late")).To(MatchError(store.ErrLeaseLost))
		Expect(st.RenewLease(ctx, claimed, time.Minute)).To(MatchError(store.ErrLeaseLost))
		stored, err := st.GetOperation(ctx, op.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(stored.State).To(Equal(store.OpSucceeded))
		Expect(stored.FinishedAt).NotTo(BeNil())
	})
})

var _ = Describe("RescueExpired", func() {
	It("leaves operations whose lease has not expired", func(ctx SpecContext) {
		_, op := createInstance(ctx)
		claim(ctx, "worker-1", op.ID)
		Expect(st.RescueExpired(ctx, noBackoff)).To(Equal(0))
		stored, err := st.GetOperation(ctx, op.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(stored.State).To(Equal(store.OpRunning))
	})

	It("requeues an expired operation to run after the backoff for its attempt", func(ctx SpecContext) {
		_, op := createInstance(ctx)
		var attempts []int
		backoff := func(attempt int) time.Duration {
			attempts = append(attempts, attempt)
			return time.Hour
		}
		abandon(ctx, "worker-1", op.ID, backoff)
		Expect(attempts).To(Equal([]int{1}))

		stored := storedOperation(ctx, op.ID)
		Expect(stored.State).To(Equal(store.OpQueued))
		Expect(stored.LeaseOwner).To(BeEmpty())
		Expect(stored.LeaseExpiresAt).To(BeNil())
		Expect(stored.RunAfter).To(BeTemporally(">", time.Now().Add(59*time.Minute)))
		Expect(stored.Description).NotTo(BeEmpty())
		_, err := st.Claim(ctx, "worker-2", time.Minute)
		Expect(err).To(MatchError(store.ErrNothingToClaim))
	})

	When("the operation reached max_attempts", func() {
		It("fails it with an actionable description and marks the instance failed", func(ctx SpecContext) {
			inst := newInstance()
			op := lastAttempt(store.OpProvision, inst.ID, "")
			Expect(st.CreateInstance(ctx, inst, op)).To(Succeed())
			abandon(ctx, "worker-1", op.ID, noBackoff)

			stored := storedOperation(ctx, op.ID)
			Expect(stored.State).To(Equal(store.OpFailed))
			Expect(stored.FinishedAt).NotTo(BeNil())
			Expect(stored.Description).To(ContainSubstring("stopped without finishing"))
			Expect(stored.Description).To(ContainSubstring("Retry the request"))
			Expect(stored.Description).To(ContainSubstring(op.ID))
			Expect(stored.Description).To(MatchRegexp(`began at \d\d:\d\d:\d\d UTC`))
			Expect(instanceState(ctx, inst.ID)).To(Equal(store.InstanceFailed))

			_, err := st.Claim(ctx, "worker-2", time.Minute)
			Expect(err).To(MatchError(store.ErrNothingToClaim))
		})

		DescribeTable("fails it with the effects of Fail",
			func(ctx SpecContext, start func(ctx context.Context) (store.Instance, store.Binding, store.Operation),
				wantInstance store.InstanceState, wantBinding store.BindingState) {
				inst, b, op := start(ctx)
				abandon(ctx, "worker-1", op.ID, noBackoff)
				Expect(storedOperation(ctx, op.ID).State).To(Equal(store.OpFailed))
				Expect(instanceState(ctx, inst.ID)).To(Equal(wantInstance))
				Expect(bindingState(ctx, inst.ID, b.ID)).To(Equal(wantBinding))
			},
			Entry("a bind's binding failed", func(ctx context.Context) (store.Instance, store.Binding, store.Operation) {
				inst := readyInstance(ctx)
				b := newBinding(inst.ID)
				op := lastAttempt(store.OpBind, inst.ID, b.ID)
				Expect(st.CreateBinding(ctx, b, op)).To(Succeed())
				return inst, b, op
			}, store.InstanceReady, store.BindingFailed),
			Entry("a deprovision's instance delete_failed, not failed, with its bindings kept", func(ctx context.Context) (store.Instance, store.Binding, store.Operation) {
				inst, b := boundBinding(ctx, `{"password":"x"}`)
				op := lastAttempt(store.OpDeprovision, inst.ID, "")
				Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceDeprovisioning, op)).To(Succeed())
				return inst, b, op
			}, store.InstanceDeleteFailed, store.BindingBound),
			Entry("an unbind's binding failed, not bound", func(ctx context.Context) (store.Instance, store.Binding, store.Operation) {
				return startLastAttempt(ctx, store.OpUnbind, store.BindingDeleting)
			}, store.InstanceReady, store.BindingFailed),
			Entry("a restore's binding still bound", func(ctx context.Context) (store.Instance, store.Binding, store.Operation) {
				return startLastAttempt(ctx, store.OpRestore, store.BindingBound)
			}, store.InstanceReady, store.BindingBound),
		)
	})
})

// lastAttempt is an operation that may run once, so the rescuer fails it rather than
// requeue it.
func lastAttempt(kind store.OperationKind, instanceID, bindingID string) store.Operation {
	op := newOperation(kind, instanceID, bindingID)
	op.MaxAttempts = 1
	return op
}

// startLastAttempt starts a binding operation of kind that may run once on a bound binding,
// leaving the binding in state.
func startLastAttempt(ctx context.Context, kind store.OperationKind, state store.BindingState) (store.Instance, store.Binding, store.Operation) {
	inst, b := boundBinding(ctx, `{"password":"x"}`)
	op := lastAttempt(kind, inst.ID, b.ID)
	Expect(st.StartBindingOperation(ctx, inst.ID, b.ID, state, op)).To(Succeed())
	return inst, b, op
}

var _ = Describe("Succeed and Fail", func() {
	var (
		inst store.Instance
		b    store.Binding
		op   store.Operation
	)

	Context("provision", func() {
		It("on success makes the instance ready", func(ctx SpecContext) {
			inst, op := createInstance(ctx)
			Expect(st.Succeed(ctx, claim(ctx, "w", op.ID), nil)).To(Succeed())
			got, err := st.GetInstance(ctx, inst.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.State).To(Equal(store.InstanceReady))
			stored, err := st.GetOperation(ctx, op.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(stored.State).To(Equal(store.OpSucceeded))
		})

		It("on failure marks the instance failed and lets a new provision start", func(ctx SpecContext) {
			inst, op := createInstance(ctx)
			Expect(st.Fail(ctx, claim(ctx, "w", op.ID), "plan small needs PostgreSQL 16")).To(Succeed())
			got, err := st.GetInstance(ctx, inst.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.State).To(Equal(store.InstanceFailed))
			stored, err := st.GetOperation(ctx, op.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(stored.State).To(Equal(store.OpFailed))
			Expect(stored.Description).To(Equal("plan small needs PostgreSQL 16"))

			again := newOperation(store.OpProvision, inst.ID, "")
			Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceProvisioning, again)).To(Succeed())
		})
	})

	Context("update", func() {
		BeforeEach(func(ctx SpecContext) {
			inst = readyInstance(ctx)
			op = newOperation(store.OpUpdate, inst.ID, "")
			req, err := json.Marshal(store.UpdateRequest{PlanID: "large", PreviousPlanID: "small", Parameters: json.RawMessage(`{"size":2}`)})
			Expect(err).NotTo(HaveOccurred())
			op.Request = req
			Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceUpdating, op)).To(Succeed())
			got, err := st.GetInstance(ctx, inst.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.PlanID).To(Equal("small"), "the new plan applies only on success")
		})

		DescribeTable("leaves the instance ready",
			func(ctx SpecContext, finish func(ctx context.Context, op store.Operation) error, wantPlan, wantParameters string) {
				Expect(finish(ctx, claim(ctx, "w", op.ID))).To(Succeed())
				got, err := st.GetInstance(ctx, inst.ID)
				Expect(err).NotTo(HaveOccurred())
				Expect(got.State).To(Equal(store.InstanceReady))
				Expect(got.PlanID).To(Equal(wantPlan))
				Expect(got.Parameters).To(MatchJSON(wantParameters))
			},
			Entry("on success with the new plan and parameters",
				func(ctx context.Context, op store.Operation) error { return st.Succeed(ctx, op, nil) }, "large", `{"size":2}`),
			Entry("on failure on its old plan",
				func(ctx context.Context, op store.Operation) error { return st.Fail(ctx, op, "node pg-1 cannot grow") }, "small", `{"size":1}`),
		)
	})

	It("keeps the parameters of an update that sends none", func(ctx SpecContext) {
		inst := readyInstance(ctx)
		op := newOperation(store.OpUpdate, inst.ID, "")
		op.Request = json.RawMessage(`{"plan_id":"large","previous_plan_id":"small"}`)
		Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceUpdating, op)).To(Succeed())
		Expect(st.Succeed(ctx, claim(ctx, "w", op.ID), nil)).To(Succeed())
		got, err := st.GetInstance(ctx, inst.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.PlanID).To(Equal("large"))
		Expect(got.Parameters).To(MatchJSON(`{"size":1}`))
	})

	Context("deprovision", func() {
		BeforeEach(func(ctx SpecContext) {
			inst, b = boundBinding(ctx, `{"password":"x"}`)
			op = newOperation(store.OpDeprovision, inst.ID, "")
			Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceDeprovisioning, op)).To(Succeed())
		})

		It("on success deletes the instance and its bindings, and the operation stays readable", func(ctx SpecContext) {
			Expect(st.Succeed(ctx, claim(ctx, "w", op.ID), nil)).To(Succeed())

			_, err := st.GetInstance(ctx, inst.ID)
			Expect(err).To(MatchError(store.ErrNotFound))
			_, err = st.GetBinding(ctx, inst.ID, b.ID)
			Expect(err).To(MatchError(store.ErrNotFound))
			var n int
			Expect(st.DB().GetContext(ctx, &n, "SELECT count(*) FROM bindings WHERE instance_id = $1", inst.ID)).To(Succeed())
			Expect(n).To(Equal(0))

			stored, err := st.GetOperation(ctx, op.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(stored.State).To(Equal(store.OpSucceeded))
			latest, err := st.LatestOperation(ctx, inst.ID, "")
			Expect(err).NotTo(HaveOccurred(), "the broker tells 410 from 200 by the finished deprovision")
			Expect(latest.ID).To(Equal(op.ID))
			Expect(latest.Kind).To(Equal(store.OpDeprovision))
		})

		It("on failure marks the instance delete_failed, not failed, keeps its bindings, and lets a new deprovision start", func(ctx SpecContext) {
			Expect(st.Fail(ctx, claim(ctx, "w", op.ID), "node pg-1 is unreachable")).To(Succeed())
			Expect(instanceState(ctx, inst.ID)).To(Equal(store.InstanceDeleteFailed))
			Expect(bindingState(ctx, inst.ID, b.ID)).To(Equal(store.BindingBound))

			again := newOperation(store.OpDeprovision, inst.ID, "")
			Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceDeprovisioning, again)).To(Succeed())
			Expect(st.Succeed(ctx, claim(ctx, "w", again.ID), nil)).To(Succeed())
			_, err := st.GetInstance(ctx, inst.ID)
			Expect(err).To(MatchError(store.ErrNotFound))
		})
	})

	Context("bind", func() {
		BeforeEach(func(ctx SpecContext) {
			inst = readyInstance(ctx)
			b = newBinding(inst.ID)
			op = newOperation(store.OpBind, inst.ID, b.ID)
			Expect(st.CreateBinding(ctx, b, op)).To(Succeed())
		})

		It("on success stores the credentials and marks the binding bound", func(ctx SpecContext) {
			creds := `{"username":"u1","password":"` + b.Password + `","port":5432}`
			Expect(st.Succeed(ctx, claim(ctx, "w", op.ID), json.RawMessage(creds))).To(Succeed())
			got, err := st.GetBinding(ctx, inst.ID, b.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.State).To(Equal(store.BindingBound))
			Expect(got.Credentials).To(MatchJSON(creds))
			Expect(got.Password == b.Password).To(BeTrue(), "the stored password is the one generated")
		})

		It("on failure marks the binding failed, without credentials, and lets a new bind start", func(ctx SpecContext) {
			Expect(st.Fail(ctx, claim(ctx, "w", op.ID), "node pg-1 refused the role")).To(Succeed())
			got, err := st.GetBinding(ctx, inst.ID, b.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.State).To(Equal(store.BindingFailed))
			Expect(got.Credentials).To(BeNil())

			again := newOperation(store.OpBind, inst.ID, b.ID)
			Expect(st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingCreating, again)).To(Succeed())
			got, err = st.GetBinding(ctx, inst.ID, b.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.State).To(Equal(store.BindingCreating))
			Expect(got.Password == b.Password).To(BeTrue(), "a new bind sets the same password")
		})
	})

	Context("unbind", func() {
		BeforeEach(func(ctx SpecContext) {
			inst, b = boundBinding(ctx, `{"password":"x"}`)
			op = newOperation(store.OpUnbind, inst.ID, b.ID)
			Expect(st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingDeleting, op)).To(Succeed())
			Expect(bindingState(ctx, inst.ID, b.ID)).To(Equal(store.BindingDeleting))
		})

		It("on success deletes the binding, and the operation stays readable", func(ctx SpecContext) {
			Expect(st.Succeed(ctx, claim(ctx, "w", op.ID), nil)).To(Succeed())
			_, err := st.GetBinding(ctx, inst.ID, b.ID)
			Expect(err).To(MatchError(store.ErrNotFound))
			latest, err := st.LatestOperation(ctx, inst.ID, b.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(latest.ID).To(Equal(op.ID))
			Expect(latest.State).To(Equal(store.OpSucceeded))
			_, err = st.GetInstance(ctx, inst.ID)
			Expect(err).NotTo(HaveOccurred())
		})

		It("on failure marks the binding failed, not bound, and lets a new unbind start", func(ctx SpecContext) {
			Expect(st.Fail(ctx, claim(ctx, "w", op.ID), "node pg-1 is unreachable")).To(Succeed())
			Expect(bindingState(ctx, inst.ID, b.ID)).To(Equal(store.BindingFailed), "the unbind may already have taken the login away")
			Expect(instanceState(ctx, inst.ID)).To(Equal(store.InstanceReady))

			again := newOperation(store.OpUnbind, inst.ID, b.ID)
			Expect(st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingDeleting, again)).To(Succeed())
			Expect(st.Succeed(ctx, claim(ctx, "w", again.ID), nil)).To(Succeed())
			_, err := st.GetBinding(ctx, inst.ID, b.ID)
			Expect(err).To(MatchError(store.ErrNotFound))
		})
	})
})

// attempts reads the attempts the trigger of migration 11 recorded of operation id.
func attempts(ctx SpecContext, id string) []map[string]any {
	GinkgoHelper()
	rows, err := st.DB().QueryxContext(ctx, `SELECT attempt, worker, outcome, description, ended_at IS NOT NULL AS ended
		FROM operation_attempts WHERE operation_id = $1 ORDER BY id`, id)
	Expect(err).NotTo(HaveOccurred())
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		row := map[string]any{}
		Expect(rows.MapScan(row)).To(Succeed())
		out = append(out, row)
	}
	return out
}

var _ = Describe("The attempts of an operation", func() {
	It("are recorded as they are claimed and end, whichever way they end", func(ctx SpecContext) {
		_, op := createInstance(ctx)
		first := claim(ctx, "worker-a", op.ID)
		Expect(st.Retry(ctx, first, 0, "node pg-1 refused the connection; will retry")).To(Succeed())
		second := claim(ctx, "worker-b", op.ID)
		Expect(st.Release(ctx, second)).To(Succeed())
		third := claim(ctx, "worker-c", op.ID)
		Expect(attempts(ctx, op.ID)).To(HaveLen(3))
		Expect(st.Fail(ctx, third, "node pg-1 is full")).To(Succeed())

		Expect(attempts(ctx, op.ID)).To(Equal([]map[string]any{
			{"attempt": int64(1), "worker": "worker-a", "outcome": "retried", "description": "node pg-1 refused the connection; will retry", "ended": true},
			{"attempt": int64(2), "worker": "worker-b", "outcome": "released", "description": "node pg-1 refused the connection; will retry", "ended": true},
			{"attempt": int64(2), "worker": "worker-c", "outcome": "failed", "description": "node pg-1 is full", "ended": true},
		}))
	})
})
