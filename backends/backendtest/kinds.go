package backendtest

import (
	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/mysql"
	"github.com/omnibroker/omnibroker/backends/postgres"
	"github.com/omnibroker/omnibroker/backends/rabbitmq"
	"github.com/omnibroker/omnibroker/backends/redis"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

// Kind is one kind of backend on the local server the suites use, and how to open its adapter.
type Kind struct {
	Name   string
	Server testkit.Server
	Open   func([]backends.Server) (backends.Backend, error)
}

// Kinds are the four kinds, in the order the benchmarks report them.
var Kinds = []Kind{
	{"postgres", testkit.Postgres, func(s []backends.Server) (backends.Backend, error) { return postgres.New(s) }},
	{"mysql", testkit.MySQL, func(s []backends.Server) (backends.Backend, error) { return mysql.New(s) }},
	{"redis", testkit.Redis, func(s []backends.Server) (backends.Backend, error) { return redis.New(s) }},
	{"rabbitmq", testkit.RabbitMQ, func(s []backends.Server) (backends.Backend, error) { return rabbitmq.New(s) }},
}
