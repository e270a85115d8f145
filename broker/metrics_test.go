package broker_test

import (
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// scrapeText GETs /metrics as Prometheus does: without credentials.
func scrapeText() string {
	GinkgoHelper()
	resp, err := http.Get(server.URL + "/metrics")
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	data, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return string(data)
}

var _ = Describe("Metrics", func() {
	It("are served at /metrics without credentials, GET and HEAD only", func() {
		Expect(scrapeText()).To(ContainSubstring("# TYPE omnibroker_operations_total counter"))
		r := call(http.MethodPost, "/metrics", nil, func(req *http.Request) { req.Header.Del("Authorization") })
		Expect(r.status).To(Equal(http.StatusMethodNotAllowed))
		Expect(r.header.Get("Allow")).To(Equal("GET, HEAD"))
	})

	It("count requests by route pattern, a known method or other, and status, never by path", func() {
		id := uuid.NewString()
		Expect(call(http.MethodGet, "/v2/service_instances/"+id, nil).status).To(Equal(http.StatusNotFound))
		Expect(call("BREW", "/v2/service_instances/"+id, nil).status).To(Equal(http.StatusMethodNotAllowed))
		Expect(call(http.MethodGet, "/v2/no/such/"+id, nil).status).To(Equal(http.StatusNotFound))

		text := scrapeText()
		Expect(text).To(ContainSubstring(`omnibroker_http_requests_total{method="GET",route="/v2/service_instances/{instance_id}",status="404"}`))
		Expect(text).To(ContainSubstring(`omnibroker_http_requests_total{method="other",route="unmatched",status="405"}`))
		Expect(text).To(ContainSubstring(`omnibroker_http_requests_total{method="GET",route="unmatched",status="404"}`))
		Expect(text).To(ContainSubstring(`omnibroker_http_request_duration_seconds_bucket{method="GET",route="/v2/service_instances/{instance_id}",le="+Inf"}`))
		Expect(text).NotTo(ContainSubstring(id[:8]))
		Expect(text).NotTo(ContainSubstring("BREW"))
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "omnibroker_node_reachable{") && strings.Contains(line, `node="pg-down"`) {
				Expect(line).To(HaveSuffix(" 0"), "a node that does not answer")
			}
		}
		Expect(text).To(ContainSubstring(`omnibroker_node_reachable{backend="local",node="pg-local"} 1`))
	})
})
