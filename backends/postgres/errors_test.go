package postgres_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/lib/pq"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
	"github.com/omnibroker/omnibroker/backends/postgres"
)

var _ = Describe("Errors", func() {
	suite.ItFailsOnUnreachableNodes("pg-unknown", "pg-closed", "postgres://")

	When("the caller's context ends while a statement waits", func() {
		It("aborts the statement, fails for a retry, and leaves the instance usable", func(ctx SpecContext) {
			inst := provisioned(ctx, nil)
			tx, err := suite.Admin.BeginTx(ctx, nil)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() { _ = tx.Rollback() })
			_, err = tx.ExecContext(ctx, `ALTER DATABASE `+pq.QuoteIdentifier(databaseName(inst))+` CONNECTION LIMIT 9`)
			Expect(err).NotTo(HaveOccurred())

			short, cancel := context.WithTimeout(suite.Logged(ctx), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err = suite.Calls().Update(short, inst, "small")
			Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
			Expect(err).To(HaveOccurred())
			Expect(backends.IsPermanent(err)).To(BeFalse())
			Expect(backendtest.Description(err)).To(Equal("node pg-local did not answer in time"))
			Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue())

			Expect(tx.Rollback()).To(Succeed())
			Expect(suite.Calls().Update(suite.Logged(ctx), inst, "small")).To(Succeed())
		})
	})

	DescribeTable("invalid plan settings and parameters fail permanently before any connection is made",
		func(ctx SpecContext, planConfig, params map[string]any, sentence string) {
			inst := backends.Instance{ID: "some-id", Node: "pg-closed", Plan: "small", PlanConfig: planConfig, Parameters: params}
			err := suite.Calls().Provision(suite.Logged(ctx), inst)
			Expect(backends.IsPermanent(err)).To(BeTrue(), "%v", err)
			Expect(backendtest.Description(err)).To(ContainSubstring(sentence))
		},
		Entry("a connection_limit that is text", map[string]any{"connection_limit": "ten"}, nil, "plan small sets connection_limit"),
		Entry("a fractional connection_limit", map[string]any{"connection_limit": 2.5}, nil, "plan small sets connection_limit"),
		Entry("a connection_limit of zero", map[string]any{"connection_limit": 0}, nil, "plan small sets connection_limit"),
		Entry("a connection_limit below -1", map[string]any{"connection_limit": float64(-2)}, nil, "plan small sets connection_limit"),
		Entry("an extension that is not offered", nil, map[string]any{"extensions": []any{"plpython3u"}}, `extension "plpython3u" is not offered`),
		Entry("an extension name that is not a string", nil, map[string]any{"extensions": []any{1}}, "must be a list of extension names"),
		Entry("extensions that are not a list", nil, map[string]any{"extensions": "citext"}, "must be a list of extension names"),
	)
})

var _ = Describe("New", func() {
	DescribeTable("rejects a bad node without quoting its URL",
		func(nodes []backends.Server) {
			p, err := postgres.New(nodes)
			Expect(err).To(HaveOccurred())
			Expect(p).To(BeNil())
			Expect(err.Error()).NotTo(ContainSubstring("s3cret"))
		},
		Entry("an unparsable URL", []backends.Server{{Name: "a", AdminURL: "postgres://u:s3cret@%zz/x"}}),
		Entry("another scheme", []backends.Server{{Name: "a", AdminURL: "mysql://u:s3cret@h/x"}}),
		Entry("no name", []backends.Server{{AdminURL: "postgres://u:s3cret@h/x"}}),
		Entry("a name twice", []backends.Server{
			{Name: "a", AdminURL: "postgres://u:s3cret@h/x"},
			{Name: "a", AdminURL: "postgres://u:s3cret@h/y"},
		}),
	)

	It("hands out the node's public host and port when they are set", func(ctx SpecContext) {
		p := suite.Open(backends.Server{Name: "pg-local", AdminURL: suite.AdminURL, Host: "db.example.com", Port: 6432})
		inst := newInstance(nil)
		Expect(suite.CallsOf(p).Provision(suite.Logged(ctx), inst)).To(Succeed())
		creds, err := suite.CallsOf(p).Bind(suite.Logged(ctx), inst, newBinding())
		Expect(err).NotTo(HaveOccurred())
		Expect(creds["hostname"]).To(Equal("db.example.com"))
		Expect(creds["port"]).To(Equal(6432))
		uri, _ := creds["uri"].(string)
		jdbc, _ := creds["jdbcUrl"].(string)
		// Booleans, so that a failure does not print the password the URLs carry.
		Expect(strings.Contains(uri, "@db.example.com:6432/")).To(BeTrue(), "uri names the configured host and port")
		Expect(strings.HasPrefix(jdbc, "jdbc:postgresql://db.example.com:6432/")).To(BeTrue(), "jdbcUrl names the configured host and port")
	})

	// New reads the files before it connects to anything, so no node needs to be there.
	DescribeTable("refuses a ca_file it cannot use, naming the node and the file, never the URL",
		func(adminQuery string, caFile func() string, want string) {
			_, err := postgres.New([]backends.Server{{Name: "pg-tls", CAFile: caFile(),
				AdminURL: "postgres://postgres:" + backendtest.ClosedNodePassword + "@db.example.com/postgres?" + adminQuery}})
			Expect(err).To(MatchError(ContainSubstring(want)))
			backendtest.ExpectHidden(err.Error(), backendtest.ClosedNodePassword, "the error")
		},
		Entry("with an admin URL that does not insist on TLS", "sslmode=prefer", backendtest.UntrustedCAFile,
			`postgres node "pg-tls" sets ca_file, but its admin URL does not ask for TLS (sslmode=verify-full)`),
		Entry("that does not exist", "sslmode=verify-full", func() string { return "/nonexistent/ca.pem" },
			`postgres node "pg-tls": ca_file /nonexistent/ca.pem cannot be read: no such file or directory`),
		Entry("that holds no certificate", "sslmode=verify-full", func() string { return os.DevNull }, "holds no PEM certificate"),
	)
})
