package backends_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
)

// sentence is the sentence err carries, or "".
func sentence(err error) string {
	s, _ := backends.SentenceOf(err)
	return s
}

var _ = Describe("Failure", func() {
	cause := errors.New("driver text with postgres://admin:pw@host")

	It("is transient or permanent, carries its sentence, and wraps its cause", func() {
		t := backends.Transient("node a is busy", cause)
		p := backends.Permanent("plan small is wrong", cause)
		Expect(backends.IsPermanent(t)).To(BeFalse())
		Expect(backends.IsPermanent(p)).To(BeTrue())
		Expect(backends.IsPermanent(fmt.Errorf("wrapped: %w", p))).To(BeTrue())
		Expect(backends.IsPermanent(cause)).To(BeFalse())
		Expect(sentence(fmt.Errorf("wrapped: %w", t))).To(Equal("node a is busy"))
		_, ok := backends.SentenceOf(cause)
		Expect(ok).To(BeFalse())
		Expect(errors.Is(p, cause)).To(BeTrue())
		Expect(backends.Permanent("all said", nil)).To(MatchError("all said"))
		Expect(backends.TimedOut.Sentence("a", "")).To(Equal("node a did not answer in time"))
	})

	It("stays permanent when a transient failure wraps a permanent one", func() {
		inner := backends.Permanent("name taken", nil)
		outer := backends.Transient("the call to node a was cancelled", fmt.Errorf("%w: %w", context.Canceled, inner))
		Expect(backends.IsPermanent(outer)).To(BeTrue())
		Expect(sentence(outer)).To(Equal("the call to node a was cancelled"))
	})

	Describe("NodeFailed", func() {
		driver := func(error) backends.Cause { return backends.LoginRejected }

		It("words the driver's error for the node and the action, for a retry", func() {
			err := backends.NodeFailed("a", "create database x", cause, driver)
			Expect(backends.IsPermanent(err)).To(BeFalse())
			Expect(sentence(err)).To(Equal("node a rejected the broker's login"))
			Expect(sentence(backends.NodeFailed("a", "create database x", cause,
				func(error) backends.Cause { return "" }))).To(Equal("node a failed to create database x"))
		})

		It("keeps a sentence the error carries already, unless the call's context ended", func() {
			busy := backends.Transient("node a is still busy", nil)
			Expect(backends.NodeFailed("a", "x", busy, driver)).To(BeIdenticalTo(busy))
			ended := fmt.Errorf("%w: %w", context.DeadlineExceeded, busy)
			Expect(sentence(backends.NodeFailed("a", "x", ended, backends.TransportCause))).
				To(Equal("node a did not answer in time"))
		})
	})

	DescribeTable("TransportCause words the failures of the transport, and only those",
		func(err error, want backends.Cause) {
			Expect(backends.TransportCause(err)).To(Equal(want))
		},
		Entry("cancelled", context.Canceled, backends.Cancelled),
		Entry("deadline", context.DeadlineExceeded, backends.TimedOut),
		Entry("refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, backends.Refused),
		Entry("unknown host", &net.DNSError{Err: "no such host", Name: "h"}, backends.Unresolved),
		Entry("unreachable", &net.OpError{Op: "dial", Err: syscall.EHOSTUNREACH}, backends.Unreachable),
		Entry("dropped", io.ErrUnexpectedEOF, backends.Dropped),
		Entry("anything else", cause, backends.Cause("")),
	)
})
