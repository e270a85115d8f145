package acceptance_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// hostileRequests is how many half-sent requests the flood opens: more than the broker's
// 1,024 file descriptors.
const hostileRequests = 1100

// startLimitedBroker starts a broker limited to files open file descriptors, through
// prlimit(1), which execs the broker in its place.
func startLimitedBroker(files int) *broker {
	GinkgoHelper()
	wrapper := filepath.Join(GinkgoT().TempDir(), "omnibroker")
	script := fmt.Sprintf("#!/bin/sh\nexec prlimit --nofile=%d:%d -- %q \"$@\"\n", files, files, binaryPath)
	Expect(os.WriteFile(wrapper, []byte(script), 0o700)).To(Succeed())
	built := binaryPath
	binaryPath = wrapper
	defer func() { binaryPath = built }()
	return startBroker(newStateDB(), nil)
}

// halfSent sends the headers of an unauthenticated PUT that announces a 10-byte body and
// never sends it, and returns the connection.
func halfSent(addr string) net.Conn {
	GinkgoHelper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	Expect(err).NotTo(HaveOccurred())
	_, err = fmt.Fprintf(conn, "PUT /v2/service_instances/%s?accepts_incomplete=true HTTP/1.1\r\n"+
		"Host: %s\r\nX-Broker-API-Version: 2.15\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n", newID(), addr)
	Expect(err).NotTo(HaveOccurred())
	return conn
}

var _ = Describe("The broker's edge", func() {
	When("limited to 1,024 files, it meets 1,100 unauthenticated requests that never send their body", func() {
		It("still serves a platform's request, and closes every hostile socket by itself", func() {
			b := startLimitedBroker(1024)
			limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", b.session.Command.Process.Pid))
			Expect(err).NotTo(HaveOccurred())
			Expect(string(limits)).To(MatchRegexp(`Max open files\s+1024\s+1024`))
			addr := strings.TrimPrefix(b.url, "http://")

			By("opening the hostile requests, all to 127.0.0.1")
			var wg sync.WaitGroup
			var mu sync.Mutex
			var slowest time.Duration
			fastest := time.Hour
			began := time.Now()
			refused, done := 0, 0
			for range hostileRequests {
				conn := halfSent(addr)
				sent := time.Now()
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer conn.Close()
					_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
					reader := bufio.NewReader(conn)
					status, _ := reader.ReadString('\n')
					for _, err := reader.ReadByte(); err == nil; _, err = reader.ReadByte() {
					}
					mu.Lock()
					defer mu.Unlock()
					slowest = max(slowest, time.Since(sent))
					fastest = min(fastest, time.Since(sent))
					done++
					if strings.HasPrefix(status, "HTTP/1.1 401") {
						refused++
					}
				}()
			}
			flooded := time.Now()

			By("serving a platform's request meanwhile, on a new connection")
			c := b.client()
			// Not DefaultTransport, whose pool still holds a connection from before the flood.
			c.http = &http.Client{Timeout: time.Minute, Transport: &http.Transport{}}
			Expect(c.getInstance(newID()).Status).To(Equal(http.StatusNotFound))
			served := time.Since(flooded)
			mu.Lock()
			open := hostileRequests - done
			mu.Unlock()

			By("closing each hostile socket, the client never closing one first")
			closed := make(chan struct{})
			go func() { wg.Wait(); close(closed) }()
			Eventually(closed, 30*time.Second).Should(BeClosed())
			Expect(refused).To(Equal(hostileRequests), "each hostile request is answered 401")
			AddReportEntry("edge flood", fmt.Sprintf("flood opened in %s; platform request served %s after it, %d hostile sockets still open; hostile sockets closed %s to %s after their headers",
				flooded.Sub(began), served, open, fastest, slowest))
			Expect(served).To(BeNumerically("<", 10*time.Second))
			Expect(slowest).To(BeNumerically("<", 10*time.Second))

			By("still serving afterwards, without having run out of files")
			id := newID()
			c.provisionReady(id, quickPlan, nil)
			c.deprovisionGone(id, quickPlan)
			output := string(b.session.Out.Contents()) + string(b.session.Err.Contents())
			Expect(output).NotTo(ContainSubstring("too many open files"))
		})
	})

	When("one address keeps sending new wrong passwords", func() {
		It("answers it 429 with Retry-After in JSON for a while, and still serves a stale password's neighbour until then", func() {
			b := startBroker(newStateDB(), map[string]string{"OMNIBROKER_LOGIN_FAILURES": "3", "OMNIBROKER_LOGIN_INTERVAL": "2s"})
			platform := b.client()
			stale := b.client()
			stale.password = "stale-" + randomBase62(8)

			By("serving the platform while a client with a stale password behind its address keeps failing")
			for range 10 {
				expectOSBErrorCode(stale.catalog(), http.StatusUnauthorized, "Unauthorized")
				Expect(platform.catalog().Status).To(Equal(http.StatusOK))
			}

			By("refusing the address once two more new passwords have failed")
			guesser := b.client()
			for i := range 2 {
				guesser.password = fmt.Sprintf("guess-%d-%s", i, randomBase62(8))
				expectOSBErrorCode(guesser.getInstance(newID()), http.StatusUnauthorized, "Unauthorized")
			}
			began := time.Now()
			for _, c := range []*osbClient{guesser, platform} {
				r := c.provision(newID(), provisionBody(quickPlan, nil), true)
				expectOSBErrorCode(r, http.StatusTooManyRequests, "TooManyRequests")
				Expect(r.Header.Get("Retry-After")).To(MatchRegexp(`^[12]$`))
			}
			Expect(string(b.session.Out.Contents())).To(ContainSubstring("logins-throttled"))

			By("serving the platform again once Retry-After has passed")
			Eventually(func() int { return platform.catalog().Status }).WithTimeout(5 * time.Second).Should(Equal(http.StatusOK))
			AddReportEntry("login throttle", fmt.Sprintf("throttled address served again %s after its last failure", time.Since(began)))
			Expect(count(b.state.open(), `SELECT (SELECT count(*) FROM instances) + (SELECT count(*) FROM operations)`)).To(BeZero())
		})
	})

	DescribeTable("answer 412 in JSON to an API version header that is not 2.N with N >= 11",
		func(version string) {
			c := shared.client()
			c.version = version
			expectOSBError(c.catalog(), http.StatusPreconditionFailed)
		},
		Entry("2.17x", "2.17x"),
		Entry("02.17", "02.17"),
		Entry("2.", "2."),
		Entry("+2.17", "+2.17"),
		Entry("2.10", "2.10"),
	)

	DescribeTable("answer 400 in JSON to a query parameter given twice, and write nothing",
		func(query url.Values) {
			c := shared.client()
			id := newID()
			expectOSBError(c.do(http.MethodPut, instancePath(id), query, provisionBody(quickPlan, nil)), http.StatusBadRequest)
			Expect(c.getInstance(id).Status).To(Equal(http.StatusNotFound))
		},
		Entry("accepts_incomplete twice", url.Values{"accepts_incomplete": {"true", "false"}}),
		Entry("plan_id twice", url.Values{"accepts_incomplete": {"true"}, "plan_id": {quickPlan.planID, quickPlan.planID}}),
	)

	DescribeTable("answer 400 in JSON to hostile ids and strings, echo and log none of them, and store nothing",
		func(send func(c *osbClient, marker string) response) {
			c := shared.client()
			marker := newID()
			r := send(c, marker)
			expectOSBError(r, http.StatusBadRequest)
			Expect(string(r.Raw)).NotTo(ContainSubstring(marker), "the answer does not echo the value")
			Expect(string(shared.session.Out.Contents())).NotTo(ContainSubstring(marker), "nor does the log")
			Expect(count(sharedState, `SELECT count(*) FROM instances WHERE position($1 IN id) > 0`, marker)).To(BeZero())
			Expect(count(sharedState, `SELECT count(*) FROM operations WHERE position($1 IN instance_id) > 0`, marker)).To(BeZero())
		},
		Entry("an instance id with a NUL byte", func(c *osbClient, m string) response {
			return c.do(http.MethodPut, instancePath(m+"%00"), incomplete(true), provisionBody(quickPlan, nil))
		}),
		Entry("an instance id that is not UTF-8", func(c *osbClient, m string) response {
			return c.do(http.MethodPut, instancePath(m+"%FF"), incomplete(true), provisionBody(quickPlan, nil))
		}),
		Entry("an instance id of 100 kB", func(c *osbClient, m string) response {
			return c.do(http.MethodPut, instancePath(m+strings.Repeat("x", 100<<10)), incomplete(true), provisionBody(quickPlan, nil))
		}),
		Entry("an instance id with an encoded slash", func(c *osbClient, m string) response {
			return c.do(http.MethodPut, instancePath(m+"%2Fx"), incomplete(true), provisionBody(quickPlan, nil))
		}),
		Entry("a binding id with a control character", func(c *osbClient, m string) response {
			return c.do(http.MethodPut, bindingPath(m, m+"%01"), incomplete(true), map[string]any{"service_id": quickPlan.serviceID, "plan_id": quickPlan.planID})
		}),
		Entry("an operation with a NUL byte", func(c *osbClient, m string) response {
			return c.do(http.MethodGet, instancePath(m)+"/last_operation", url.Values{"operation": {m + "\x00"}}, nil)
		}),
		Entry("an organization_guid with a NUL", func(c *osbClient, m string) response {
			body := provisionBody(quickPlan, nil)
			body["organization_guid"] = m + "\x00"
			return c.do(http.MethodPut, instancePath(m), incomplete(true), body)
		}),
		Entry("a NUL inside context", func(c *osbClient, m string) response {
			body := provisionBody(quickPlan, nil)
			body["context"] = map[string]any{"platform": "cloudfoundry", "space_name": m + "\x00"}
			return c.do(http.MethodPut, instancePath(m), incomplete(true), body)
		}),
	)

	It("decodes an id exactly once: a%252Fb is stored as the id a%2Fb", func() {
		c := shared.client()
		id := newID() + "a%2Fb"
		r := c.do(http.MethodPut, instancePath(strings.ReplaceAll(id, "%", "%25")), incomplete(true), provisionBody(quickPlan, nil))
		Expect(r.Status).To(BeElementOf(http.StatusCreated, http.StatusAccepted), r.String())
		Expect(count(sharedState, `SELECT count(*) FROM instances WHERE id = $1`, id)).To(Equal(1))
		c.deprovisionGone(strings.ReplaceAll(id, "%", "%25"), quickPlan)
	})
})
