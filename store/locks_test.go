package store_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

// holdRow locks one row FOR UPDATE in a transaction of the spec's own, which stays open until
// the returned release is called (or the spec ends).
func holdRow(ctx context.Context, query string, args ...any) (release func()) {
	GinkgoHelper()
	tx, err := st.DB().BeginTxx(ctx, nil)
	Expect(err).NotTo(HaveOccurred())
	Expect(tx.ExecContext(ctx, query, args...)).Error().NotTo(HaveOccurred())
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback() }) }
	DeferCleanup(release)
	return release
}

// lockWaiters counts the sessions of the suite's database that wait for a row lock.
func lockWaiters(ctx context.Context) int {
	var n int
	Expect(st.DB().GetContext(ctx, &n, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock'`)).To(Succeed())
	return n
}

// operationRowFree tells whether another transaction could lock the operation row at once,
// that is, no transaction has written it and is still open.
func operationRowFree(ctx context.Context, id string) bool {
	tx, err := st.DB().BeginTxx(ctx, nil)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(ctx, `SELECT id FROM operations WHERE id = $1 FOR UPDATE NOWAIT`, id)
	if pq.As(err, pqerror.LockNotAvailable) != nil {
		return false
	}
	Expect(err).NotTo(HaveOccurred())
	return true
}

// isDeadlock tells whether err is PostgreSQL's deadlock_detected.
func isDeadlock(err error) bool { return pq.As(err, pqerror.TRDeadlockDetected) != nil }

var _ = Describe("Lock order", func() {
	DescribeTable("a completion waits for the instance (and binding) row before it touches the operation row",
		func(ctx SpecContext, start func(ctx context.Context) (store.Instance, store.Binding, store.Operation)) {
			inst, b, op := start(ctx)
			running := claim(ctx, "worker", op.ID)
			release := holdRow(ctx, `SELECT id FROM instances WHERE id = $1 FOR UPDATE`, inst.ID)

			done := make(chan error, 1)
			go func() { done <- st.Succeed(ctx, running, nil) }()
			Eventually(ctx, lockWaiters).WithTimeout(10*time.Second).Should(BeNumerically(">=", 1), "the completion waits")
			Expect(operationRowFree(ctx, op.ID)).To(BeTrue(), "the operation row is not written while the instance row is waited for")

			By("a re-sent request, queued behind the completion, is refused rather than deadlocked")
			again := make(chan error, 1)
			go func() {
				if b.ID == "" {
					again <- st.StartInstanceOperation(ctx, inst.ID, store.InstanceDeprovisioning, newOperation(op.Kind, inst.ID, ""))
				} else {
					again <- st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingDeleting, newOperation(op.Kind, inst.ID, b.ID))
				}
			}()
			release()
			Eventually(ctx, done).WithTimeout(10 * time.Second).Should(Receive(BeNil()))
			var err error
			Eventually(ctx, again).WithTimeout(10 * time.Second).Should(Receive(&err))
			Expect(isDeadlock(err)).To(BeFalse(), "%v", err)
			Expect(err).To(Or(MatchError(store.ErrBusy), MatchError(store.ErrNotFound)))
			Expect(storedOperation(ctx, op.ID).State).To(Equal(store.OpSucceeded))
		},
		Entry("of a deprovision", func(ctx context.Context) (store.Instance, store.Binding, store.Operation) {
			inst := readyInstance(ctx)
			op := newOperation(store.OpDeprovision, inst.ID, "")
			Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceDeprovisioning, op)).To(Succeed())
			return inst, store.Binding{}, op
		}),
		Entry("of an unbind", func(ctx context.Context) (store.Instance, store.Binding, store.Operation) {
			inst, b := boundBinding(ctx, `{"password":"x"}`)
			op := newOperation(store.OpUnbind, inst.ID, b.ID)
			Expect(st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingDeleting, op)).To(Succeed())
			return inst, b, op
		}),
	)

	When("a completion races eight re-sent DELETEs of what it finishes", func() {
		It("records every outcome and refuses every DELETE, without a deadlock", func(ctx SpecContext) {
			const n, resent = 10, 8
			var ops []store.Operation
			var bindings []store.Binding
			for range n {
				inst, b := boundBinding(ctx, `{"password":"x"}`)
				op := newOperation(store.OpUnbind, inst.ID, b.ID)
				Expect(st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingDeleting, op)).To(Succeed())
				ops, bindings = append(ops, claim(ctx, "worker", op.ID)), append(bindings, b)
			}
			var wg sync.WaitGroup
			errs := make(chan error, n*(resent+1))
			for i, op := range ops {
				wg.Go(func() { errs <- st.Succeed(ctx, op, nil) })
				for range resent {
					wg.Go(func() {
						err := st.StartBindingOperation(ctx, op.InstanceID, bindings[i].ID, store.BindingDeleting,
							newOperation(store.OpUnbind, op.InstanceID, bindings[i].ID))
						if errors.Is(err, store.ErrBusy) || errors.Is(err, store.ErrNotFound) {
							err = nil
						}
						errs <- err
					})
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				Expect(err).NotTo(HaveOccurred())
			}
			for _, op := range ops {
				Expect(storedOperation(ctx, op.ID).State).To(Equal(store.OpSucceeded))
			}
		}, SpecTimeout(time.Minute))
	})
})

var _ = Describe("Transactions", func() {
	BeforeEach(func(ctx SpecContext) {
		Expect(st.DB().ExecContext(ctx, `CREATE TABLE lock_probe (id int PRIMARY KEY, n int NOT NULL);
			INSERT INTO lock_probe VALUES (1, 0), (2, 0)`)).Error().NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			Expect(st.DB().ExecContext(ctx, `DROP TABLE lock_probe`)).Error().NotTo(HaveOccurred())
		})
	})

	bump := func(ctx context.Context, tx *sqlx.Tx, id int) error {
		_, err := tx.ExecContext(ctx, `UPDATE lock_probe SET n = n + 1 WHERE id = $1`, id)
		return err
	}

	It("run again at once when PostgreSQL aborts one of two for a deadlock, and both commit", func(ctx SpecContext) {
		var runs atomic.Int32
		var deadlocks atomic.Int32
		var first sync.WaitGroup
		first.Add(2)
		cross := func(a, b int) func(tx *sqlx.Tx) error {
			var ran bool
			return func(tx *sqlx.Tx) error {
				runs.Add(1)
				if err := bump(ctx, tx, a); err != nil {
					return err
				}
				if !ran {
					// Both hold their first row before either asks for the other's.
					ran = true
					first.Done()
					first.Wait()
				}
				err := bump(ctx, tx, b)
				if isDeadlock(err) {
					deadlocks.Add(1)
				}
				return err
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() { errs[0] = st.InTx(ctx, cross(1, 2)) })
		wg.Go(func() { errs[1] = st.InTx(ctx, cross(2, 1)) })
		wg.Wait()
		Expect(errs).To(HaveEach(BeNil()))
		// A run again at once may take its first row before the winner, waiting for it, has
		// woken up, and meet the deadlock once more.
		Expect(deadlocks.Load()).To(BeNumerically(">=", 1), "PostgreSQL found a deadlock")
		Expect(runs.Load()).To(Equal(2+deadlocks.Load()), "each aborted run was followed by another")
		var sum int
		Expect(st.DB().GetContext(ctx, &sum, `SELECT sum(n) FROM lock_probe`)).To(Succeed())
		Expect(sum).To(Equal(4), "both transactions committed all their writes")
	}, SpecTimeout(30*time.Second))

	It("run again at once after a serialization failure", func(ctx SpecContext) {
		var runs int
		var failures int
		err := st.InTx(ctx, func(tx *sqlx.Tx) error {
			runs++
			if _, err := tx.ExecContext(ctx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ`); err != nil {
				return err
			}
			var n int
			if err := tx.GetContext(ctx, &n, `SELECT n FROM lock_probe WHERE id = 1`); err != nil {
				return err
			}
			if runs == 1 {
				// Another transaction changes the row after this one's snapshot.
				Expect(st.DB().ExecContext(ctx, `UPDATE lock_probe SET n = 10 WHERE id = 1`)).Error().NotTo(HaveOccurred())
			}
			err := bump(ctx, tx, 1)
			if pq.As(err, pqerror.TRSerializationFailure) != nil {
				failures++
			}
			return err
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(failures).To(Equal(1))
		Expect(runs).To(Equal(2))
		var n int
		Expect(st.DB().GetContext(ctx, &n, `SELECT n FROM lock_probe WHERE id = 1`)).To(Succeed())
		Expect(n).To(Equal(11))
	})

	DescribeTable("stop retrying",
		func(ctx SpecContext, fail func(cancel context.CancelFunc) error, wantRuns int) {
			ctx2, cancel := context.WithCancel(ctx)
			defer cancel()
			runs := 0
			err := st.InTx(ctx2, func(tx *sqlx.Tx) error {
				runs++
				if err := bump(ctx2, tx, 1); err != nil {
					return err
				}
				return fail(cancel)
			})
			Expect(err).To(HaveOccurred())
			Expect(runs).To(Equal(wantRuns))
			var n int
			Expect(st.DB().GetContext(ctx, &n, `SELECT n FROM lock_probe WHERE id = 1`)).To(Succeed())
			Expect(n).To(BeZero(), "nothing of a failed transaction is kept")
		},
		Entry("after a bounded number of deadlocks", func(context.CancelFunc) error {
			return &pq.Error{Code: pqerror.TRDeadlockDetected, Message: "deadlock detected"}
		}, store.TxRetries+1),
		Entry("at once for an error a new run cannot cure", func(context.CancelFunc) error {
			return errors.New("a decoding error")
		}, 1),
		Entry("at once when the context is done", func(cancel context.CancelFunc) error {
			cancel()
			return &pq.Error{Code: pqerror.TRDeadlockDetected, Message: "deadlock detected"}
		}, 1),
	)
})

var _ = Describe("One active operation", func() {
	It("lets operations on different bindings of one instance queue together, and keeps the instance's own apart", func(ctx SpecContext) {
		inst, bound := boundBinding(ctx, `{"password":"x"}`)
		first := pendingBinding(ctx, inst)
		second := pendingBinding(ctx, inst)
		unbind := newOperation(store.OpUnbind, inst.ID, bound.ID)
		Expect(st.StartBindingOperation(ctx, inst.ID, bound.ID, store.BindingDeleting, unbind)).To(Succeed())

		By("a second operation on the same binding is refused")
		Expect(st.StartBindingOperation(ctx, inst.ID, bound.ID, store.BindingDeleting, newOperation(store.OpUnbind, inst.ID, bound.ID))).
			To(MatchError(store.ErrBusy))

		By("an update or a deprovision is refused while any of them is active")
		Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceUpdating, newOperation(store.OpUpdate, inst.ID, ""))).
			To(MatchError(store.ErrBusy))
		Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceDeprovisioning, newOperation(store.OpDeprovision, inst.ID, ""))).
			To(MatchError(store.ErrBusy))
		Expect(instanceState(ctx, inst.ID)).To(Equal(store.InstanceReady), "a refused start writes nothing")

		By("finishing them: the update is queued, and then a bind is refused")
		for _, b := range []store.Binding{first, second} {
			op, err := st.LatestOperation(ctx, inst.ID, b.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(st.Succeed(ctx, claim(ctx, "worker", op.ID), []byte(`{}`))).To(Succeed())
		}
		Expect(st.Succeed(ctx, claim(ctx, "worker", unbind.ID), nil)).To(Succeed())
		Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceUpdating, newOperation(store.OpUpdate, inst.ID, ""))).To(Succeed())
		late := newBinding(inst.ID)
		Expect(st.CreateBinding(ctx, late, newOperation(store.OpBind, inst.ID, late.ID))).To(MatchError(store.ErrBusy))
		Expect(st.StartBindingOperation(ctx, inst.ID, first.ID, store.BindingDeleting, newOperation(store.OpUnbind, inst.ID, first.ID))).
			To(MatchError(store.ErrBusy))
	})

	It("never lets an operation on the instance itself be active beside one on a binding, however they race", func(ctx SpecContext) {
		for range 10 {
			inst := readyInstance(ctx)
			var wg sync.WaitGroup
			for range 6 {
				wg.Go(func() {
					defer GinkgoRecover()
					b := newBinding(inst.ID)
					err := st.CreateBinding(ctx, b, newOperation(store.OpBind, inst.ID, b.ID))
					Expect(err).To(Or(BeNil(), MatchError(store.ErrBusy)))
				})
			}
			wg.Go(func() {
				defer GinkgoRecover()
				err := st.StartInstanceOperation(ctx, inst.ID, store.InstanceUpdating, newOperation(store.OpUpdate, inst.ID, ""))
				Expect(err).To(Or(BeNil(), MatchError(store.ErrBusy)))
			})
			wg.Wait()
			var own, ofBindings int
			Expect(st.DB().GetContext(ctx, &own, `SELECT count(*) FROM operations
				WHERE instance_id = $1 AND binding_id IS NULL AND state = 'queued'`, inst.ID)).To(Succeed())
			Expect(st.DB().GetContext(ctx, &ofBindings, `SELECT count(*) FROM operations
				WHERE instance_id = $1 AND binding_id IS NOT NULL AND state = 'queued'`, inst.ID)).To(Succeed())
			Expect(own == 0 || ofBindings == 0).To(BeTrue(), "%d of the instance's own and %d of its bindings queued at once", own, ofBindings)
			Expect(own + ofBindings).To(BeNumerically(">", 0))
			finishQueued(ctx, inst.ID)
		}
	})
})

// finishQueued runs every queued operation of the instance to success, so the suite's queue
// is empty again.
func finishQueued(ctx context.Context, instanceID string) {
	GinkgoHelper()
	var ids []string
	Expect(st.DB().SelectContext(ctx, &ids, `SELECT id FROM operations WHERE instance_id = $1 AND state = 'queued' ORDER BY created_at, id`,
		instanceID)).To(Succeed())
	for _, id := range ids {
		Expect(st.Succeed(ctx, claim(ctx, "worker", id), []byte(`{}`))).To(Succeed())
	}
}

var _ = DescribeTable("Transient tells the database failures a new try may get past",
	func(err error, transient bool) {
		Expect(store.Transient(errors.Join(errors.New("succeed operation x"), err))).To(Equal(transient))
	},
	Entry("a broken connection", driver.ErrBadConn, true),
	Entry("a connection cut mid-answer", io.ErrUnexpectedEOF, true),
	Entry("a refused connection", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true),
	Entry("a connection failure", &pq.Error{Code: "08006"}, true),
	Entry("a deadlock", &pq.Error{Code: pqerror.TRDeadlockDetected}, true),
	Entry("too many connections", &pq.Error{Code: "53300"}, true),
	Entry("a server shutting down", &pq.Error{Code: pqerror.AdminShutdown}, true),
	Entry("a server starting up", &pq.Error{Code: pqerror.CannotConnectNow}, true),
	Entry("a lost lease", store.ErrLeaseLost, false),
	Entry("a closed pool", errors.New("sql: database is closed"), false),
	Entry("a unique violation", &pq.Error{Code: "23505"}, false),
	Entry("a cancelled call", context.Canceled, false),
)
