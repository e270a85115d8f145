package backends_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
)

var _ = Describe("Mountable", func() {
	DescribeTable("adds type, provider, host and database to credentials sealed before they existed",
		func(sealed backends.Credentials, want map[string]any) {
			got := backends.Mountable(sealed)
			for k, v := range sealed {
				Expect(got).To(HaveKeyWithValue(k, v), "the sealed %s stays as it was", k)
			}
			for k, v := range want {
				Expect(got).To(HaveKeyWithValue(k, v))
			}
			Expect(got).To(HaveLen(len(sealed) + len(want)))
			Expect(backends.Mountable(got)).To(Equal(got), "a second pass changes nothing")
		},
		Entry("postgresql", backends.Credentials{"hostname": "h", "port": 5432.0, "name": "ob_db", "uri": "postgres://u:p@h:5432/ob_db"},
			map[string]any{"type": "postgresql", "provider": "omnibroker", "host": "h", "database": "ob_db"}),
		Entry("mysql", backends.Credentials{"hostname": "h", "name": "ob_db", "uri": "mysql://u:p@h:3306/ob_db"},
			map[string]any{"type": "mysql", "provider": "omnibroker", "host": "h", "database": "ob_db"}),
		Entry("redis over TLS", backends.Credentials{"host": "h", "uri": "rediss://u:p@h:6379"},
			map[string]any{"type": "redis", "provider": "omnibroker"}),
		Entry("rabbitmq", backends.Credentials{"hostname": "h", "vhost": "v", "uri": "amqp://u:p@h:5672/v"},
			map[string]any{"type": "rabbitmq", "provider": "omnibroker", "host": "h"}),
		Entry("a uri of no known scheme", backends.Credentials{"uri": "other://h"},
			map[string]any{"provider": "omnibroker"}),
	)

	It("keeps a key the credentials already have", func() {
		got := backends.Mountable(backends.Credentials{"host": "a", "hostname": "b", "type": "custom", "uri": "redis://h"})
		Expect(got["host"]).To(Equal("a"))
		Expect(got["type"]).To(Equal("custom"))
	})

	DescribeTable("ValidSecretKey", func(k string, ok bool) { Expect(backends.ValidSecretKey(k)).To(Equal(ok)) },
		Entry(nil, "jdbcUrl", true), Entry(nil, "http_api_uri", true), Entry(nil, "a.b-c", true),
		Entry(nil, "", false), Entry(nil, "a/b", false), Entry(nil, "a b", false))
})
