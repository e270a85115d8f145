package acceptance_test

// /metrics: the broker's Prometheus metrics, scraped without the platform's credentials, as
// they move through a lifecycle; and a real Prometheus (Debian's prometheus package, which
// scripts/services installs) that scrapes the broker with the alert rules of
// manifests/prometheus loaded, whose series every query of the dashboard and the rules names.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"
)

// promDir holds the alert rules, their unit tests and the Grafana dashboard.
const promDir = "../manifests/prometheus"

// scrape is one parsed answer of /metrics.
type scrape map[string]*dto.MetricFamily

// scrapeAt GETs /metrics at base as Prometheus does, without credentials, and parses it.
func scrapeAt(base string) scrape {
	GinkgoHelper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(base + "/metrics")
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	Expect(resp.Header.Get("Content-Type")).To(HavePrefix("text/plain"))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return families
}

// value sums the series of name whose labels include want: a counter's or gauge's value, a
// histogram's count of observations. Zero when there is none.
func (s scrape) value(name string, want map[string]string) float64 {
	total := 0.0
	family, ok := s[name]
	if !ok {
		return 0
	}
series:
	for _, m := range family.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

// labelValues is every label value of the scrape.
func (s scrape) labelValues() []string {
	var values []string
	for _, family := range s {
		for _, m := range family.Metric {
			for _, l := range m.Label {
				values = append(values, l.GetValue())
			}
		}
	}
	return values
}

// metricName finds the names of the broker's series in a PromQL expression.
var metricName = regexp.MustCompile(`\b(?:omnibroker|go|process)_[a-z0-9_]+\b`)

// queriedNames is every series name the dashboard's queries and the alert rules name, each
// query checked to name at least one.
func queriedNames() []string {
	GinkgoHelper()
	var exprs []string
	var dashboard struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	data, err := os.ReadFile(filepath.Join(promDir, "dashboard.json"))
	Expect(err).NotTo(HaveOccurred())
	Expect(json.Unmarshal(data, &dashboard)).To(Succeed())
	for _, p := range dashboard.Panels {
		for _, t := range p.Targets {
			Expect(t.Expr).NotTo(BeEmpty(), "a query of panel %q", p.Title)
			exprs = append(exprs, t.Expr)
		}
	}
	for _, v := range dashboard.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			exprs = append(exprs, q["query"].(string))
		}
	}
	var rules struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	data, err = os.ReadFile(filepath.Join(promDir, "alerts.yml"))
	Expect(err).NotTo(HaveOccurred())
	Expect(yaml.UnmarshalStrict(data, &rules)).To(Succeed())
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	Expect(len(exprs)).To(BeNumerically(">", 20))
	seen := map[string]bool{}
	var names []string
	for _, e := range exprs {
		found := metricName.FindAllString(e, -1)
		Expect(found).NotTo(BeEmpty(), "the query %q names none of the broker's series", e)
		for _, n := range found {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	return names
}

var _ = Describe("Metrics", func() {
	It("serves /metrics without credentials, counts a lifecycle in it, and no label carries an instance or binding id", func() {
		b := startBroker(newStateDB(), nil)
		c := b.client()
		before := scrapeAt(b.url)
		Expect(before.value("omnibroker_build_info", nil)).To(Equal(1.0))
		Expect(before).To(HaveKey("go_goroutines"))
		Expect(before).To(HaveKey("process_resident_memory_bytes"))
		redis := map[string]string{"backend": "redis"}
		plan := map[string]string{"service": "redis-test", "plan": "redis"}
		with := func(base map[string]string, key, value string) map[string]string {
			out := map[string]string{key: value}
			for k, v := range base {
				out[k] = v
			}
			return out
		}

		By("provisioning and binding")
		id, bindingID := newID(), newID()
		c.provisionReady(id, redisPlan, nil)
		c.bindReady(id, bindingID, redisPlan, newID())
		// The state's gauges are read at most every 5 s.
		Eventually(func(g Gomega) {
			s := scrapeAt(b.url)
			g.Expect(s.value("omnibroker_state_gauges_exporter", nil)).To(Equal(1.0), "the only replica exports the state's gauges")
			g.Expect(s.value("omnibroker_instances", with(plan, "state", "ready"))).To(Equal(1.0))
			g.Expect(s.value("omnibroker_bindings", with(plan, "state", "bound"))).To(Equal(1.0))
			g.Expect(s.value("omnibroker_node_instances", map[string]string{"backend": "redis", "node": "redis-local"})).To(Equal(1.0))
			g.Expect(s.value("omnibroker_node_capacity", map[string]string{"backend": "redis", "node": "redis-local"})).To(Equal(1000.0))
		}).Should(Succeed())

		By("unbinding and deprovisioning")
		c.unbindGone(id, bindingID, redisPlan)
		c.deprovisionGone(id, redisPlan)
		Eventually(func(g Gomega) {
			s := scrapeAt(b.url)
			g.Expect(s.value("omnibroker_instances", plan)).To(Equal(0.0))
			g.Expect(s.value("omnibroker_bindings", plan)).To(Equal(0.0))
			g.Expect(s.value("omnibroker_node_instances", redis)).To(Equal(0.0))
			g.Expect(s.value("omnibroker_queue_operations", nil)).To(Equal(0.0))
			g.Expect(s.value("omnibroker_queue_oldest_queued_seconds", nil)).To(Equal(0.0))
		}).Should(Succeed())

		after := scrapeAt(b.url)
		moved := func(name string, labels map[string]string) float64 {
			return after.value(name, labels) - before.value(name, labels)
		}
		for _, kind := range []string{"provision", "bind", "unbind", "deprovision"} {
			ok := with(redis, "kind", kind)
			Expect(moved("omnibroker_operations_total", with(ok, "outcome", "succeeded"))).To(Equal(1.0), kind)
			Expect(moved("omnibroker_operations_total", with(ok, "outcome", "failed"))).To(Equal(0.0), kind)
			Expect(moved("omnibroker_operation_duration_seconds", with(ok, "outcome", "succeeded"))).To(Equal(1.0), kind)
			Expect(moved("omnibroker_operation_attempts_total", with(ok, "outcome", "succeeded"))).To(Equal(1.0), kind)
			Expect(moved("omnibroker_operation_retries_total", ok)).To(Equal(0.0), kind)
			Expect(moved("omnibroker_backend_call_duration_seconds",
				map[string]string{"backend": "redis", "node": "redis-local", "call": kind, "outcome": "ok"})).To(Equal(1.0), kind)
		}
		Expect(moved("omnibroker_leases_lost_total", nil)).To(Equal(0.0))
		Expect(moved("omnibroker_http_requests_total",
			map[string]string{"route": "/v2/service_instances/{instance_id}", "method": "PUT"})).To(Equal(1.0))
		Expect(moved("omnibroker_http_requests_total",
			map[string]string{"route": "/v2/service_instances/{instance_id}/service_bindings/{binding_id}", "method": "PUT"})).To(Equal(1.0))
		Expect(moved("omnibroker_http_request_duration_seconds",
			map[string]string{"route": "/v2/service_instances/{instance_id}", "method": "DELETE"})).To(BeNumerically(">=", 1))
		Expect(after.value("omnibroker_http_requests_total", map[string]string{"route": "/metrics", "status": "200"})).To(BeNumerically(">=", 3))
		for _, node := range []string{"pg-local", "mysql-local", "redis-local", "rabbitmq-local"} {
			Expect(after.value("omnibroker_node_reachable", map[string]string{"node": node})).To(Equal(1.0), node)
		}
		Expect(after.value("omnibroker_backend_call_duration_seconds", map[string]string{"node": "pg-local", "call": "ping"})).To(BeNumerically(">=", 1))

		for _, v := range after.labelValues() {
			Expect(v).NotTo(ContainSubstring(id[:8]))
			Expect(v).NotTo(ContainSubstring(bindingID[:8]))
		}
	})

	When("OMNIBROKER_METRICS_LISTEN is set", func() {
		It("serves /metrics there alone, and the API's port asks for credentials for it", func() {
			address := fmt.Sprintf("127.0.0.1:%d", freePort())
			b := startBroker(newStateDB(), map[string]string{"OMNIBROKER_METRICS_LISTEN": address})
			s := scrapeAt("http://" + address)
			Expect(s.value("omnibroker_build_info", nil)).To(Equal(1.0))
			resp, err := http.Get(b.url + "/metrics")
			Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized))
		})
	})

	It("has alert rules that promtool checks and whose unit tests pass", func() {
		for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
			session := runIn(promDir, "promtool", args...)
			Expect(session.ExitCode()).To(Equal(0), "promtool %s:\n%s", strings.Join(args, " "), session.Out.Contents())
		}
	})

	It("is scraped by a real Prometheus, which has every series the dashboard and the alert rules name", func() {
		b := startBroker(newStateDB(), nil)
		c := b.client()
		id, bindingID := newID(), newID()
		c.provisionReady(id, redisPlan, nil)
		c.bindReady(id, bindingID, redisPlan, newID())
		c.unbindGone(id, bindingID, redisPlan)
		c.deprovisionGone(id, redisPlan)

		prom := startPrometheus(strings.TrimPrefix(b.url, "http://"))
		Eventually(func() []string { return prom.query(`up{job="omnibroker"}`) }).Should(Equal([]string{"1"}))
		Eventually(func() []string {
			return prom.query(`omnibroker_operations_total{kind="provision", backend="redis", outcome="succeeded"}`)
		}).Should(Equal([]string{"1"}))
		names := queriedNames()
		Eventually(func(g Gomega) {
			var answer struct {
				Data []string `json:"data"`
			}
			prom.get("/api/v1/label/__name__/values", nil, &answer)
			g.Expect(answer.Data).To(ContainElements(names))
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			var answer struct {
				Data struct {
					Groups []struct {
						Rules []struct {
							Name   string `json:"name"`
							Health string `json:"health"`
						} `json:"rules"`
					} `json:"groups"`
				} `json:"data"`
			}
			prom.get("/api/v1/rules", nil, &answer)
			g.Expect(answer.Data.Groups).To(HaveLen(1))
			for _, r := range answer.Data.Groups[0].Rules {
				g.Expect(r.Health).To(Equal("ok"), r.Name)
			}
		}).Should(Succeed(), "every alert rule has been evaluated without an error")
	})
})

// prometheus is a Prometheus server of a spec's own.
type prometheus struct{ url string }

// startPrometheus runs Prometheus on a free port, with a config and a data directory in a
// directory of the spec's, scraping target every second with the alert rules loaded; it is
// stopped when the spec ends.
func startPrometheus(target string) prometheus {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	rules, err := filepath.Abs(filepath.Join(promDir, "alerts.yml"))
	Expect(err).NotTo(HaveOccurred())
	config := fmt.Sprintf("global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [%q]\n"+
		"scrape_configs:\n  - job_name: omnibroker\n    static_configs: [{targets: [%q]}]\n", rules, target)
	configPath := filepath.Join(dir, "prometheus.yml")
	Expect(os.WriteFile(configPath, []byte(config), 0o600)).To(Succeed())
	address := fmt.Sprintf("127.0.0.1:%d", freePort())
	session := runIn(dir, "prometheus", "--config.file="+configPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+address, "--log.level=warn")
	DeferCleanup(func() {
		session.Terminate()
		Eventually(session, 30*time.Second).Should(gexec.Exit())
	})
	p := prometheus{url: "http://" + address}
	Eventually(func() error {
		resp, err := http.Get(p.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = os.ErrNotExist
			}
		}
		return err
	}).Should(Succeed(), "prometheus is ready")
	return p
}

// get GETs path of Prometheus's HTTP API with query and decodes its JSON answer into out.
func (p prometheus) get(path string, query url.Values, out any) {
	GinkgoHelper()
	resp, err := http.Get(p.url + path + "?" + query.Encode())
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.StatusCode).To(Equal(http.StatusOK), string(data))
	Expect(json.Unmarshal(data, out)).To(Succeed())
}

// query is the values of an instant query's series, as Prometheus writes them.
func (p prometheus) query(promql string) []string {
	GinkgoHelper()
	var answer struct {
		Data struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	p.get("/api/v1/query", url.Values{"query": {promql}}, &answer)
	var values []string
	for _, r := range answer.Data.Result {
		values = append(values, r.Value[1].(string))
	}
	return values
}

// runIn starts name with args in dir; for promtool, it waits for it to exit.
func runIn(dir, name string, args ...string) *gexec.Session {
	GinkgoHelper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred(), "%s is installed by scripts/services", name)
	if name == "promtool" {
		Eventually(session, 30*time.Second).Should(gexec.Exit())
	}
	return session
}
