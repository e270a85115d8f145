// Package fault is a test-only hook: when OMNIBROKER_FAULT names one of its points, the process
// kills itself (SIGKILL) the moment it reaches that point, as a crash there would, so the
// acceptance suite can prove that nothing is lost, done twice or left behind. Unset, it does
// nothing at all: Arm registers no sink.
//
// The points are recognised on the log lines the broker writes anyway (a lager sink sees each
// line, in the goroutine that logs it, after the line has been written), so the hook adds no
// branch to the request path, the worker or the adapters. A renamed event disarms its point;
// the fault specs, which expect the process to die there, then fail.
package fault

import (
	"fmt"
	"os"
	"strings"

	"code.cloudfoundry.org/lager/v3"
)

// Env is the environment variable that names the point; production never sets it.
const Env = "OMNIBROKER_FAULT"

// The points.
const (
	// Queued is a request's operation committed to the queue (its "<action>.queued" line),
	// before the request waits for it and before any worker of this process claims it.
	Queued = "queued"
	// InsideBackendCall is an adapter's first logged step of an operation's backend call (say
	// "operation.postgres-provision.owner-role-created": the role exists, the database not yet),
	// before the call returns.
	InsideBackendCall = "inside-backend-call"
	// AfterBackendCall is a backend call returned without error (its "<kind>-<call>.done"
	// line), before the worker records the outcome in the state database.
	AfterBackendCall = "after-backend-call"
)

// Points lists the points Env may name.
var Points = []string{Queued, InsideBackendCall, AfterBackendCall}

// Arm registers on logger, when point is not empty, the sink that kills the process at point;
// an unknown point is an error. Call it on the root logger before any session is made from it:
// a session keeps the sinks its parent had.
func Arm(logger lager.Logger, point string) error {
	if point == "" {
		return nil
	}
	s, err := newSink(point, kill)
	if err != nil {
		return err
	}
	logger.RegisterSink(s)
	logger.Info("fault-armed", lager.Data{"point": point})
	return nil
}

func kill() {
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Kill()
	}
	select {} // the signal is on its way; nothing after this point may run
}

type sink struct {
	at  func(message string) bool
	die func()
}

func newSink(point string, die func()) (lager.Sink, error) {
	at, ok := map[string]func(string) bool{
		Queued:            queued,
		InsideBackendCall: insideBackendCall,
		AfterBackendCall:  afterBackendCall,
	}[point]
	if !ok {
		return nil, fmt.Errorf("must be one of %s", strings.Join(Points, ", "))
	}
	return &sink{at: at, die: die}, nil
}

// Log implements lager.Sink.
func (s *sink) Log(l lager.LogFormat) {
	if s.at(l.Message) {
		s.die()
	}
}

// backendCall splits a message of a backend call's session, "….operation.<kind>-<call>.<event…>",
// into its events; ok is false for any other message.
func backendCall(message string) (events []string, ok bool) {
	parts := strings.Split(message, ".")
	for i := 0; i+2 < len(parts); i++ {
		if parts[i] != "operation" {
			continue
		}
		_, call, found := strings.Cut(parts[i+1], "-")
		switch call {
		case "provision", "update", "deprovision", "bind", "unbind":
			return parts[i+2:], found
		}
	}
	return nil, false
}

func queued(message string) bool {
	if _, ok := backendCall(message); ok {
		return false
	}
	return strings.HasSuffix(message, ".queued") || strings.HasSuffix(message, ".queued-again")
}

func insideBackendCall(message string) bool {
	events, ok := backendCall(message)
	if !ok {
		return false
	}
	switch events[len(events)-1] {
	case "done", "failed", "cancelled":
		return false
	}
	return true
}

func afterBackendCall(message string) bool {
	events, ok := backendCall(message)
	return ok && len(events) == 1 && events[0] == "done"
}
