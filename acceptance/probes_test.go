package acceptance_test

// The probes platforms send the broker, on its API port and without credentials: /healthz
// while the process serves, /readyz while its state database answers with a schema this
// binary can use.

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
)

// probeAnswer is a probe's status and JSON body.
type probeAnswer struct {
	Status int
	Body   map[string]any
	raw    string
}

// probe sends GET path to b as a platform's probe does: no credentials, no API version.
func (b *broker) probe(path string) probeAnswer {
	GinkgoHelper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(b.url + path)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.Header.Get("Content-Type")).To(Equal("application/json"), "%s: %s", path, data)
	a := probeAnswer{Status: resp.StatusCode, raw: string(data)}
	Expect(json.Unmarshal(data, &a.Body)).To(Succeed(), "%s: %s", path, data)
	return a
}

// expectNoPlace fails if a probe's answer names the state database, its host or its URL.
func expectNoPlace(a probeAnswer, state stateDB) {
	GinkgoHelper()
	Expect(a.raw).NotTo(ContainSubstring(state.url))
	Expect(a.raw).NotTo(ContainSubstring(state.name))
	Expect(a.raw).NotTo(ContainSubstring("127.0.0.1"))
	Expect(a.raw).NotTo(ContainSubstring("postgres"))
}

var _ = Describe("Probes", func() {
	It("answers /healthz and /readyz 200 on the API's port without credentials, and /v2 still asks for them", func() {
		Expect(shared.probe("/healthz")).To(Equal(probeAnswer{Status: http.StatusOK, Body: map[string]any{"status": "ok"}, raw: "{\"status\":\"ok\"}\n"}))
		ready := shared.probe("/readyz")
		Expect(ready.Status).To(Equal(http.StatusOK))
		Expect(ready.Body).To(Equal(map[string]any{"status": "ready"}))
		resp, err := http.Get(shared.url + "/v2/catalog")
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized))
	})

	When("the state database stops", func() {
		It("answers /readyz 503 with a reason that names no host, keeps /healthz 200, and is ready again once it is back", func() {
			state, cluster := privateState()
			b := startBroker(state, map[string]string{"OMNIBROKER_RESTORE_INTERVAL": "0"})
			Expect(b.probe("/readyz").Status).To(Equal(http.StatusOK))

			By("stopping the state database")
			cluster.Stop(GinkgoT())
			ready := b.probe("/readyz")
			Expect(ready.Status).To(Equal(http.StatusServiceUnavailable))
			Expect(ready.Body).To(Equal(map[string]any{"status": "unavailable", "reason": "the state database does not answer"}))
			expectNoPlace(ready, state)
			Expect(ready.raw).NotTo(ContainSubstring(strconv.Itoa(cluster.Port)))
			Expect(b.probe("/healthz").Status).To(Equal(http.StatusOK))

			By("starting it again")
			cluster.Start(GinkgoT())
			Eventually(func() int { return b.probe("/readyz").Status }).Should(Equal(http.StatusOK))
			Expect(b.session.ExitCode()).To(Equal(-1), "the broker did not exit")
		})
	})

	When("the state database's schema is behind this binary", func() {
		It("answers /readyz 503 saying so, until the schema is back", func() {
			state := newStateDB()
			b := startBroker(state, nil)
			db := state.open()
			var newest int64
			Expect(db.QueryRow(`SELECT max(version_id) FROM goose_db_version`).Scan(&newest)).To(Succeed())

			By("taking the newest migration off goose's version table, as a database migrated by an older release has it")
			Expect(db.Exec(`DELETE FROM goose_db_version WHERE version_id = $1`, newest)).Error().NotTo(HaveOccurred())
			ready := b.probe("/readyz")
			Expect(ready.Status).To(Equal(http.StatusServiceUnavailable))
			Expect(ready.Body).To(HaveKeyWithValue("status", "unavailable"))
			Expect(ready.Body["reason"]).To(Equal("the state database's schema is at migration " + strconv.FormatInt(newest-1, 10) +
				" and this binary needs " + strconv.FormatInt(newest, 10) + "; run omnibroker migrate"))
			expectNoPlace(ready, state)
			Expect(b.probe("/healthz").Status).To(Equal(http.StatusOK))
			Eventually(b.session.Out).Should(gbytes.Say(`"message":"omnibroker.not-ready"`))

			By("putting it back")
			Expect(db.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`, newest)).Error().NotTo(HaveOccurred())
			Expect(b.probe("/readyz").Status).To(Equal(http.StatusOK))
			Expect(strings.Count(string(b.session.Out.Contents()), "omnibroker.not-ready")).To(Equal(1), "the log says it once")
		})
	})
})
