package manifests_test

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

// cfManifest is the part of Cloud Foundry's app manifest schema that manifests/cf-manifest.yml
// may use; a key outside it (a misspelt health_check_type, say) fails to decode.
type cfManifest struct {
	Applications []struct {
		Name                              string            `json:"name"`
		Path                              string            `json:"path"`
		Buildpacks                        []string          `json:"buildpacks"`
		Instances                         int               `json:"instances"`
		Memory                            string            `json:"memory"`
		DiskQuota                         string            `json:"disk_quota"`
		Command                           string            `json:"command"`
		HealthCheckType                   string            `json:"health-check-type"`
		HealthCheckHTTPEndpoint           string            `json:"health-check-http-endpoint"`
		HealthCheckInvocationTimeout      int               `json:"health-check-invocation-timeout"`
		ReadinessHealthCheckType          string            `json:"readiness-health-check-type"`
		ReadinessHealthCheckHTTPEndpoint  string            `json:"readiness-health-check-http-endpoint"`
		ReadinessHealthCheckInvocationTTL int               `json:"readiness-health-check-invocation-timeout"`
		Services                          []string          `json:"services"`
		Routes                            []map[string]any  `json:"routes"`
		Timeout                           int               `json:"timeout"`
		Env                               map[string]string `json:"env"`
	} `json:"applications"`
}

// buildpackSettings are the manifest's variables that the Go buildpack reads, not omnibroker.
var buildpackSettings = map[string]bool{"GO_INSTALL_PACKAGE_SPEC": true}

var _ = Describe("The Cloud Foundry manifest", func() {
	var app = func() (m cfManifest) {
		GinkgoHelper()
		data, err := os.ReadFile("cf-manifest.yml")
		Expect(err).NotTo(HaveOccurred())
		Expect(yaml.UnmarshalStrict(data, &m)).To(Succeed())
		Expect(m.Applications).To(HaveLen(1))
		return m
	}

	It("checks liveness with an http health check on /healthz and readiness on /readyz, on $PORT", func() {
		a := app().Applications[0]
		Expect(a.HealthCheckType).To(Equal("http"))
		Expect(a.HealthCheckHTTPEndpoint).To(Equal("/healthz"))
		Expect(a.ReadinessHealthCheckType).To(Equal("http"))
		Expect(a.ReadinessHealthCheckHTTPEndpoint).To(Equal("/readyz"))
		Expect(a.Command).To(MatchRegexp(`^OMNIBROKER_LISTEN=":\$PORT" omnibroker serve$`))
	})

	It("sets only variables that omnibroker serve reads, and every one it requires but the state database, which a bound service gives", func() {
		a := app().Applications[0]
		read := servedSettings("../" + a.Env["OMNIBROKER_CONFIG"])
		for name := range a.Env {
			if !buildpackSettings[name] {
				Expect(read).To(HaveKey(name), "omnibroker serve does not read %s", name)
			}
		}
		for name, s := range read {
			if s.required && name != "DATABASE_URL" {
				Expect(a.Env).To(HaveKey(name), "omnibroker serve requires %s", name)
			}
		}
		Expect(a.Services).To(ContainElement(a.Env["OMNIBROKER_DATABASE_SERVICE"]), "the manifest binds the state database's service")
	})

	It("serves /healthz and /readyz with its environment and the VCAP_SERVICES of a bound state database, which comes before the DATABASE_URL Cloud Foundry sets", func() {
		a := app().Applications[0]
		env := map[string]string{}
		vars := regexp.MustCompile(`^\(\(([a-z_]+)\)\)$`)
		for k, v := range a.Env {
			if m := vars.FindStringSubmatch(v); m != nil {
				v = map[string]string{
					"broker_username": "platform", "broker_password": "Broker-S3cretPW", "encryption_key": randomKey(),
					"postgres_url": "postgres://admin:Node-S3cretPW@127.0.0.1:1/postgres?sslmode=disable",
					"mysql_url":    "mysql://admin:Node-S3cretPW@127.0.0.1:1/",
					"redis_url":    "redis://admin:Node-S3cretPW@127.0.0.1:1",
					"rabbitmq_url": "http://admin:Node-S3cretPW@127.0.0.1:1",
				}[m[1]]
				Expect(v).NotTo(BeEmpty(), "no value for ((%s))", m[1])
			}
			env[k] = v
		}
		env["OMNIBROKER_CONFIG"] = "../" + env["OMNIBROKER_CONFIG"]
		// The state database in its binding's uri (the local server trusts the login, so the
		// password goes unused), and a second PostgreSQL service, bound first, whose uri Cloud
		// Controller put in DATABASE_URL.
		state := strings.Replace(databaseURL(newStateDatabase()), "postgres@", "postgres:State-S3cretPW@", 1)
		decoy := "postgres://u8kd7:Decoy-S3cretPW@127.0.0.1:1/csb-db?sslmode=disable"
		vcap, err := json.Marshal(map[string][]map[string]any{
			"csb-aws-postgresql": {{
				"name": "reports-db", "label": "csb-aws-postgresql", "plan": "small", "tags": []string{"postgres", "postgresql", "relational"},
				"binding_guid": "0e86a9e5-3d4f-4b0e-9b3a-5c9f2c1d7a10", "instance_guid": "5b1c0f7a-2e3d-4c5b-8a9f-0d1e2f3a4b5c",
				"instance_name": "reports-db", "binding_name": nil, "provider": nil, "syslog_drain_url": nil, "volume_mounts": []any{},
				"credentials": map[string]any{"uri": decoy, "hostname": "127.0.0.1", "port": 1, "name": "csb-db", "username": "u8kd7", "password": "Decoy-S3cretPW"},
			}},
			"user-provided": {{
				"name": a.Env["OMNIBROKER_DATABASE_SERVICE"], "label": "user-provided", "tags": []string{},
				"binding_guid": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", "instance_guid": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
				"instance_name": a.Env["OMNIBROKER_DATABASE_SERVICE"], "binding_name": nil, "syslog_drain_url": "", "volume_mounts": []any{},
				"credentials": map[string]any{"uri": state},
			}},
		})
		Expect(err).NotTo(HaveOccurred())
		env["VCAP_SERVICES"] = string(vcap)
		env["DATABASE_URL"] = decoy
		base, session := startBroker(env)
		Expect(status(base, a.HealthCheckHTTPEndpoint)).To(Equal(http.StatusOK))
		Eventually(status).WithArguments(base, a.ReadinessHealthCheckHTTPEndpoint).Should(Equal(http.StatusOK))
		Expect(string(session.Out.Contents()) + string(session.Err.Contents())).NotTo(ContainSubstring("S3cretPW"))
	})
})
