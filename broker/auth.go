package broker

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"math"
	"net/http"
	"strconv"

	"code.cloudfoundry.org/lager/v3"
)

// Credential is one basic-auth login the platform may use. More than one at once is how the
// platform's password rotates without downtime: the broker accepts the old and the new while
// the platform moves from one to the other.
type Credential struct {
	Username string
	Password string
}

// minCredentialSlots is how many credentials basicAuth compares every login against, at
// least: a rotation needs two at once. A slot without a credential holds a digest that no
// login hashes to, so that a login costs the same whichever slot it matches, if any, and
// however many credentials are configured.
const minCredentialSlots = 2

// credentialDigest is a credential as basicAuth compares it: SHA-256 of each part, so that
// every comparison is of 32 bytes whatever the lengths sent and configured.
type credentialDigest struct{ user, password [sha256.Size]byte }

func digestOf(user, password string) credentialDigest {
	return credentialDigest{sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))}
}

// credentialSlots are the digests of platform, padded to minCredentialSlots with random
// digests.
func credentialSlots(platform []Credential) []credentialDigest {
	slots := make([]credentialDigest, 0, max(len(platform), minCredentialSlots))
	for _, c := range platform {
		slots = append(slots, digestOf(c.Username, c.Password))
	}
	for len(slots) < minCredentialSlots {
		var d credentialDigest
		_, _ = rand.Read(d.user[:])
		_, _ = rand.Read(d.password[:])
		slots = append(slots, d)
	}
	return slots
}

// matchesAny tells whether got is one of slots. It compares got with every slot in
// constant time and never stops early, so the time it takes tells neither which slot
// matched nor whether one did.
func matchesAny(slots []credentialDigest, got credentialDigest) bool {
	match := 0
	for _, s := range slots {
		match |= subtle.ConstantTimeCompare(got.user[:], s.user[:]) & subtle.ConstantTimeCompare(got.password[:], s.password[:])
	}
	return match == 1
}

// basicAuth lets through a request with one of the platform's credentials. Any other gets
// 401, is logged as login-failed with its remote address (never what it sent), and counts
// as a failed login of its address; an address that has no failed login left gets 429 with
// Retry-After, whatever its credentials, until it has one again (loginLimiter).
func basicAuth(logger lager.Logger, platform []Credential, logins *loginLimiter) func(http.Handler) http.Handler {
	login := newLogin(logger, platform, logins, "omnibroker", "the broker's basic-auth credentials are missing or wrong")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok := login.check(w, r); ok {
				next.ServeHTTP(w, r)
			}
		})
	}
}

// login checks a request's basic-auth credentials against one set of credentials, the
// platform's or the operator API's, with the failed logins of every address counted together.
type login struct {
	logger lager.Logger
	slots  []credentialDigest
	logins *loginLimiter
	// realm is the WWW-Authenticate realm of a 401, wrong the sentence of its body.
	realm, wrong string
}

func newLogin(logger lager.Logger, credentials []Credential, logins *loginLimiter, realm, wrong string) *login {
	return &login{logger: logger, slots: credentialSlots(credentials), logins: logins, realm: realm, wrong: wrong}
}

// check returns the user name of r's credentials when they are one of l's. Otherwise it has
// answered r: 429 for an address without a failed login left, else 401.
func (l *login) check(w http.ResponseWriter, r *http.Request) (string, bool) {
	addr := loginAddress(r.RemoteAddr)
	if wait := l.logins.wait(addr); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		refuse(w, http.StatusTooManyRequests, "TooManyRequests", "too many failed logins from this address; try again after Retry-After seconds")
		return "", false
	}
	u, p, ok := r.BasicAuth()
	if !matchesAny(l.slots, digestOf(u, p)) || !ok {
		// Not the user name either: a person may have typed the password into it.
		reason := "wrong-login"
		if !ok {
			reason = "no-basic-auth"
		}
		l.logger.Info("login-failed", lager.Data{"remote-address": r.RemoteAddr, "reason": reason, "realm": l.realm})
		if l.logins.failed(addr, u, p) {
			l.logger.Info("logins-throttled", lager.Data{"address": addr.String()})
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="`+l.realm+`"`)
		refuse(w, http.StatusUnauthorized, "Unauthorized", l.wrong)
		return "", false
	}
	return u, true
}
