package acceptance_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Start-up settings", func() {
	DescribeTable("a missing or invalid setting stops start-up with one line naming it, and no secret",
		func(override map[string]string, names string) {
			env := brokerEnv(shared.state, "127.0.0.1:0")
			for k, v := range override {
				if v == "" {
					delete(env, k)
				} else {
					env[k] = v
				}
			}
			session := runBinary(env, "serve")
			Expect(session.ExitCode()).To(Equal(1))
			lines := strings.Split(strings.TrimSpace(string(session.Err.Contents())), "\n")
			Expect(lines).To(HaveLen(1))
			Expect(lines[0]).To(ContainSubstring(names))
			Expect(lines[0]).NotTo(ContainSubstring("S3cretPW"))
			expectSessionHasNoSecrets(session)
		},
		Entry("no DATABASE_URL", map[string]string{"DATABASE_URL": ""}, "DATABASE_URL is not set"),
		Entry("a DATABASE_URL that does not parse", map[string]string{"DATABASE_URL": "postgres://u:S3cretPW@127.0.0.1:notaport/x"}, "DATABASE_URL"),
		Entry("a DATABASE_URL nobody answers", map[string]string{"DATABASE_URL": "postgres://u:S3cretPW@127.0.0.1:1/x?sslmode=disable"}, "DATABASE_URL"),
		Entry("no basic-auth password", map[string]string{"OMNIBROKER_PASSWORD": ""}, "OMNIBROKER_PASSWORD is not set"),
		Entry("an encryption key that is not base64", map[string]string{"OMNIBROKER_ENCRYPTION_KEY": "not-base64!"}, "OMNIBROKER_ENCRYPTION_KEY"),
		Entry("an encryption key of 16 bytes", map[string]string{"OMNIBROKER_ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZg=="}, "OMNIBROKER_ENCRYPTION_KEY"),
		Entry("a worker count that is not a number", map[string]string{"OMNIBROKER_WORKERS": "many"}, "OMNIBROKER_WORKERS"),
		Entry("a catalog file that is missing", map[string]string{"OMNIBROKER_CONFIG": "/nonexistent/catalog.yml"}, "OMNIBROKER_CONFIG"),
		Entry("a sync budget over the platforms' timeout", map[string]string{"OMNIBROKER_SYNC_BUDGET": "90s"}, "OMNIBROKER_SYNC_BUDGET"),
		Entry("a TLS certificate without its key", map[string]string{"OMNIBROKER_TLS_CERT": "/etc/hostname"}, "OMNIBROKER_TLS_KEY is not set, but OMNIBROKER_TLS_CERT is"),
		Entry("a TLS key without its certificate", map[string]string{"OMNIBROKER_TLS_KEY": "/etc/hostname"}, "OMNIBROKER_TLS_CERT is not set, but OMNIBROKER_TLS_KEY is"),
		Entry("TLS files that are not a certificate and key", map[string]string{"OMNIBROKER_TLS_CERT": "/etc/hostname", "OMNIBROKER_TLS_KEY": "/etc/hostname"}, "OMNIBROKER_TLS_CERT and OMNIBROKER_TLS_KEY"),
		Entry("TLS files that do not exist", map[string]string{"OMNIBROKER_TLS_CERT": "/nonexistent/tls.crt", "OMNIBROKER_TLS_KEY": "/nonexistent/tls.key"}, "OMNIBROKER_TLS_CERT and OMNIBROKER_TLS_KEY"),
		Entry("a second platform user name without its password", map[string]string{"OMNIBROKER_NEXT_USERNAME": "platform-2"}, "OMNIBROKER_NEXT_USERNAME is set without OMNIBROKER_NEXT_PASSWORD"),
	)
})
