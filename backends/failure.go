package backends

import (
	"context"
	"errors"
	"fmt"
)

// Failure is how a backend (or the broker's worker) fails an operation: with a sentence for
// the person who reads last_operation, which names the node and the cause in plain words and
// never quotes driver text (it can carry a DSN) or a secret, and with whether retrying can
// help. Err is the cause, for the operator's log; it may be nil when the sentence says it all.
// Make one with Transient or Permanent, or with NodeFailed for an error a node gave.
type Failure struct {
	Sentence  string
	Permanent bool
	Err       error
}

func (f *Failure) Error() string {
	if f.Err == nil {
		return f.Sentence
	}
	return f.Sentence + ": " + f.Err.Error()
}

func (f *Failure) Unwrap() error { return f.Err }

// Transient is a failure that a retry may get past (the node is down, busy or short of
// something an operator can fix): the worker retries it with backoff.
func Transient(sentence string, err error) error {
	return &Failure{Sentence: sentence, Err: err}
}

// Permanent is a failure that retrying cannot fix (a bad plan setting, a name taken by
// someone else): the worker fails the operation at once.
func Permanent(sentence string, err error) error {
	return &Failure{Sentence: sentence, Permanent: true, Err: err}
}

// IsPermanent reports whether err, or an error it wraps, was made with Permanent.
func IsPermanent(err error) bool {
	for e := range failures(err) {
		if e.Permanent {
			return true
		}
	}
	return false
}

// SentenceOf returns the sentence of the outermost Failure in err, and false when err carries
// none.
func SentenceOf(err error) (string, bool) {
	if f, ok := errors.AsType[*Failure](err); ok {
		return f.Sentence, true
	}
	return "", false
}

// failures yields every *Failure in err's tree, outermost first.
func failures(err error) func(yield func(*Failure) bool) {
	return func(yield func(*Failure) bool) {
		var walk func(error) bool
		walk = func(err error) bool {
			if err == nil {
				return true
			}
			if f, ok := err.(*Failure); ok && !yield(f) {
				return false
			}
			switch u := err.(type) {
			case interface{ Unwrap() error }:
				return walk(u.Unwrap())
			case interface{ Unwrap() []error }:
				for _, e := range u.Unwrap() {
					if !walk(e) {
						return false
					}
				}
			}
			return true
		}
		walk(err)
	}
}

// Sentence is the cause worded for node and action.
func (c Cause) Sentence(node, action string) string {
	return fmt.Sprintf(string(c), node, action)
}

// NodeFailed is the transient failure of node doing action, worded by the Cause that cause
// reads off err ("" for FailedTo). None of these are permanent: an operator can fix each of
// them, and a retry then succeeds. An err that carries a sentence already keeps it, unless the
// call's context ended: then that is the cause worth telling.
func NodeFailed(node, action string, err error, cause func(error) Cause) error {
	if _, ok := SentenceOf(err); ok && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	c := cause(err)
	if c == "" {
		c = FailedTo
	}
	return Transient(c.Sentence(node, action), err)
}

// UnknownNode is the permanent failure of a call for a node the adapter of kind was not
// configured with (an instance placed on a node since removed from the catalog).
func UnknownNode(kind, name string) error {
	return Permanent(fmt.Sprintf("node %s is not configured in this broker's %s backend", name, kind),
		fmt.Errorf("unknown %s node %q", kind, name))
}

// NameTaken is the permanent failure of a call that finds the what (database, role, user,
// vhost) name, which it derives from an id, taken on node by something this broker did not
// make for that id, such as "a role" or "an object"; the call leaves it alone. err says what
// gave it away.
func NameTaken(what, name, node, by string, err error) error {
	return Permanent(fmt.Sprintf("%s name %s on node %s is taken by %s this broker does not own", what, name, node, by), err)
}

// Missing is the permanent failure of a call that needs the instance's what (database, vhost)
// named name, which is not on node.
func Missing(what, name, node string) error {
	return Permanent(fmt.Sprintf("%s %s of this instance does not exist on node %s", what, name, node),
		errors.New(what+" missing"))
}

// PasswordUnusable is the permanent failure of a Bind whose password server (PostgreSQL,
// MariaDB, RabbitMQ) cannot take.
func PasswordUnusable(server string, err error) error {
	return Permanent("the binding's password cannot be used for "+server, err)
}
