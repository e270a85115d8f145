package acceptance_test

// The secrets no broker may print, and the check of every broker's output for them.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// secrets are the values no broker may ever print: the basic-auth password, the encryption
// key, and every password and URI handed out on bind.
var secrets struct {
	sync.Mutex
	all []secret
}

// secret is one value to look for, with a label that failure messages show instead of it.
type secret struct{ label, value string }

func rememberSecret(label, value string) {
	if value == "" {
		return
	}
	secrets.Lock()
	defer secrets.Unlock()
	secrets.all = append(secrets.all, secret{label, value})
}

func knownSecrets() []secret {
	secrets.Lock()
	defer secrets.Unlock()
	return append([]secret(nil), secrets.all...)
}

// sessions are every broker process this test process started.
var sessions struct {
	sync.Mutex
	all []*gexec.Session
}

func expectNoSecretsInOutput() {
	GinkgoHelper()
	Expect(secretLeaks()).To(BeEmpty(), "a broker printed a secret")
}

// secretLeaks names (never shows) every known secret that a broker of this process printed.
func secretLeaks() []string {
	sessions.Lock()
	all := append([]*gexec.Session(nil), sessions.all...)
	sessions.Unlock()
	var leaks []string
	for _, s := range all {
		leaks = append(leaks, sessionLeaks(s)...)
	}
	return leaks
}

func sessionLeaks(s *gexec.Session) []string {
	out, errOut := string(s.Out.Contents()), string(s.Err.Contents())
	var leaks []string
	for _, secret := range knownSecrets() {
		if strings.Contains(out, secret.value) {
			leaks = append(leaks, fmt.Sprintf("stdout of broker pid %d holds %s", s.Command.Process.Pid, secret.label))
		}
		if strings.Contains(errOut, secret.value) {
			leaks = append(leaks, fmt.Sprintf("stderr of broker pid %d holds %s", s.Command.Process.Pid, secret.label))
		}
	}
	return leaks
}

func expectSessionHasNoSecrets(s *gexec.Session) {
	GinkgoHelper()
	Expect(sessionLeaks(s)).To(BeEmpty(), "the broker printed a secret")
	Expect(accessLineLeaks(s)).To(BeEmpty(), "an access line carries more than it may")
}

// accessKeys are the data keys an access line may carry: none holds a header, query or body
// value other than the checked identity headers.
var accessKeys = map[string]bool{
	"method": true, "route": true, "status": true, "duration": true, "remote-address": true,
	"request-id": true, "correlation-id": true, "instance-id": true, "binding-id": true, "error": true,
}

// routePattern is the shape of a route's pattern: literal segments of lower-case letters and
// underscores, and {parameters}; an id sent in a path (a GUID) is none of these.
var routePattern = regexp.MustCompile(`^(/([a-z0-9_]+|\{[a-z_]+\}|\*)?)+$`)

// accessLineLeaks names each access line of s that carries a key it may not, or a route
// that is not a pattern (a path would hold ids).
func accessLineLeaks(s *gexec.Session) []string {
	var leaks []string
	for text := range strings.Lines(string(s.Out.Contents())) {
		var line logLine
		if json.Unmarshal([]byte(text), &line) != nil || line.Message != "omnibroker.request" {
			continue
		}
		for key := range line.Data {
			if !accessKeys[key] {
				leaks = append(leaks, fmt.Sprintf("an access line of broker pid %d carries %q", s.Command.Process.Pid, key))
			}
		}
		if route, _ := line.Data["route"].(string); route != "unmatched" && !routePattern.MatchString(route) {
			leaks = append(leaks, fmt.Sprintf("an access line of broker pid %d names a route that is no pattern", s.Command.Process.Pid))
		}
	}
	return leaks
}
