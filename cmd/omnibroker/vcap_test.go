package main

import (
	"strings"
	"testing"
)

// The bindings below have the shape Cloud Foundry gives each entry of VCAP_SERVICES (name,
// binding_guid, binding_name, instance_guid, instance_name, label, plan, provider,
// syslog_drain_url, tags, volume_mounts, credentials), with the credentials of brokers in use.
const (
	// The Cloud Service Broker's csb-aws-postgresql: a postgresql:// uri, the port a number.
	csbPostgres = `{
      "binding_guid": "0e86a9e5-3d4f-4b0e-9b3a-5c9f2c1d7a10",
      "binding_name": null,
      "credentials": {
        "hostname": "csb-postgresql-7f3b.c9akciq32.eu-west-1.rds.amazonaws.com",
        "jdbcUrl": "jdbc:postgresql://csb-postgresql-7f3b.c9akciq32.eu-west-1.rds.amazonaws.com:5432/csb-db?user=u8kd7&password=Csb-S3cretPW&ssl=true",
        "name": "csb-db",
        "password": "Csb-S3cretPW",
        "port": 5432,
        "uri": "postgresql://u8kd7:Csb-S3cretPW@csb-postgresql-7f3b.c9akciq32.eu-west-1.rds.amazonaws.com:5432/csb-db?sslmode=verify-full",
        "username": "u8kd7"
      },
      "instance_guid": "5b1c0f7a-2e3d-4c5b-8a9f-0d1e2f3a4b5c",
      "instance_name": "omnibroker-state",
      "label": "csb-aws-postgresql",
      "name": "omnibroker-state",
      "plan": "small",
      "provider": null,
      "syslog_drain_url": null,
      "tags": ["postgres", "postgresql", "relational"],
      "volume_mounts": []
    }`
	// A PostgreSQL broker that hands out the fields without a uri, its password in need of
	// escapes.
	fieldsPostgres = `{
      "binding_guid": "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
      "binding_name": null,
      "credentials": {
        "host": "pg-7.db.internal",
        "port": "6432",
        "database": "state",
        "user": "broker",
        "password": "p@ss/w:rd S3cretPW"
      },
      "instance_guid": "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9",
      "instance_name": "pg-state",
      "label": "postgresql-db",
      "name": "pg-state",
      "plan": "standard",
      "provider": null,
      "syslog_drain_url": null,
      "tags": [],
      "volume_mounts": []
    }`
	// `cf cups state-db -p '{"uri":"postgres://…"}'`: no tags, label user-provided.
	userProvided = `{
      "binding_guid": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
      "binding_name": null,
      "credentials": {"uri": "postgres://owner:Cups-S3cretPW@10.0.16.4:5432/omnibroker?sslmode=require"},
      "instance_guid": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
      "instance_name": "state-db",
      "label": "user-provided",
      "name": "state-db",
      "syslog_drain_url": "",
      "tags": [],
      "volume_mounts": []
    }`
	// Bound too, and not a PostgreSQL service.
	redisBinding = `{
      "binding_guid": "8e7d6c5b-4a39-4281-9f0e-d1c2b3a4f5e6",
      "credentials": {"host": "redis-1.internal", "port": 6379, "password": "Redis-S3cretPW", "uri": "rediss://:Redis-S3cretPW@redis-1.internal:6379"},
      "instance_name": "cache",
      "label": "p.redis",
      "name": "cache",
      "plan": "cache-small",
      "tags": ["redis", "pivotal", "on-demand"],
      "volume_mounts": []
    }`
)

func TestStateDatabaseFromVCAPServices(t *testing.T) {
	for _, tc := range []struct {
		about                  string
		databaseURL, vcap, svc string
		want                   string // the state database URL, or the start-up error
	}{
		{about: "one PostgreSQL service among others, with a uri", vcap: `{"csb-aws-postgresql": [` + csbPostgres + `], "p.redis": [` + redisBinding + `]}`, want: "postgresql://u8kd7:Csb-S3cretPW@csb-postgresql-7f3b.c9akciq32.eu-west-1.rds.amazonaws.com:5432/csb-db?sslmode=verify-full"},
		{about: "one with the usual fields and no uri", vcap: `{"postgresql-db": [` + fieldsPostgres + `]}`, want: "postgres://broker:p%40ss%2Fw%3Ard%20S3cretPW@pg-7.db.internal:6432/state"},
		{about: "a user-provided service, found by its uri", vcap: `{"user-provided": [` + userProvided + `], "p.redis": [` + redisBinding + `]}`, want: "postgres://owner:Cups-S3cretPW@10.0.16.4:5432/omnibroker?sslmode=require"},
		{about: "DATABASE_URL set too: it wins", databaseURL: "postgres://postgres@127.0.0.1:5432/omnibroker?sslmode=disable", vcap: `{"csb-aws-postgresql": [` + csbPostgres + `]}`, want: "postgres://postgres@127.0.0.1:5432/omnibroker?sslmode=disable"},
		{about: "several, one named", vcap: `{"csb-aws-postgresql": [` + csbPostgres + `], "user-provided": [` + userProvided + `]}`, svc: "state-db", want: "postgres://owner:Cups-S3cretPW@10.0.16.4:5432/omnibroker?sslmode=require"},
		{about: "several, one named, and the DATABASE_URL Cloud Controller set from the other", databaseURL: "postgres://u8kd7:Csb-S3cretPW@csb-postgresql-7f3b.c9akciq32.eu-west-1.rds.amazonaws.com:5432/csb-db", vcap: `{"csb-aws-postgresql": [` + csbPostgres + `], "user-provided": [` + userProvided + `]}`, svc: "state-db", want: "postgres://owner:Cups-S3cretPW@10.0.16.4:5432/omnibroker?sslmode=require"},
		{about: "several, none named", vcap: `{"csb-aws-postgresql": [` + csbPostgres + `], "user-provided": [` + userProvided + `]}`, want: "error: DATABASE_URL is not set, and VCAP_SERVICES binds 2 PostgreSQL services (omnibroker-state, state-db): name the state database's in OMNIBROKER_DATABASE_SERVICE"},
		{about: "none among the bound services", vcap: `{"p.redis": [` + redisBinding + `]}`, want: "error: DATABASE_URL is not set, and VCAP_SERVICES binds no PostgreSQL service"},
		{about: "a name that is not bound", vcap: `{"csb-aws-postgresql": [` + csbPostgres + `]}`, svc: "state", want: "error: OMNIBROKER_DATABASE_SERVICE names state, which VCAP_SERVICES does not bind"},
		{about: "a name that is not a PostgreSQL service", vcap: `{"csb-aws-postgresql": [` + csbPostgres + `], "p.redis": [` + redisBinding + `]}`, svc: "cache", want: "error: VCAP_SERVICES binds cache, whose credentials' uri is not a postgres:// URL"},
		{about: "a name without VCAP_SERVICES", databaseURL: "postgres://postgres@127.0.0.1:5432/omnibroker", svc: "state-db", want: "error: OMNIBROKER_DATABASE_SERVICE is set, but VCAP_SERVICES is not"},
		{about: "VCAP_SERVICES cut short", vcap: `{"user-provided": [{"credentials": {"uri": "postgres://owner:Cups-S3cretPW@10.0.16.4`, want: "error: VCAP_SERVICES is not a JSON object of bound services"},
		{about: "neither", want: "error: DATABASE_URL is not set"},
	} {
		t.Setenv("DATABASE_URL", tc.databaseURL)
		t.Setenv("VCAP_SERVICES", tc.vcap)
		t.Setenv(databaseServiceEnv, tc.svc)
		cfg, err := loadConfig(stateSettings)
		got := cfg.DatabaseURL
		if err != nil {
			got = "error: " + err.Error()
			if strings.Contains(got, "S3cretPW") {
				t.Errorf("%s: the error quotes a password: %s", tc.about, got)
			}
		}
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.about, got, tc.want)
		}
	}
}
