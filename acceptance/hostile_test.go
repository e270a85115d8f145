package acceptance_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	rabbithole "github.com/michaelklishin/rabbit-hole/v3"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	goredis "github.com/redis/go-redis/v9"
)

// hostileRequest is one request a broker must refuse. In target, {I} and {B} stand for a
// fresh instance id and binding id.
type hostileRequest struct {
	method string
	target string
	body   any
	// spoil changes the client (credentials, version, headers) before it sends.
	spoil func(c *osbClient)
	// status is the refusal expected; 0 is any 4xx.
	status int
}

// errorKeys is the OSB error key each refusal of a known status carries.
var errorKeys = map[int]string{
	http.StatusBadRequest:         "BadRequest",
	http.StatusUnauthorized:       "Unauthorized",
	http.StatusMethodNotAllowed:   "MethodNotAllowed",
	http.StatusPreconditionFailed: "PreconditionFailed",
}

// backendAdmins are the admin logins the hostile table looks for backend objects with.
type backendAdmins struct {
	mysql  *sql.DB
	redis  *goredis.Client
	rabbit *rabbithole.Client
}

// backendName is the name the broker gives an object of the ids: prefix and 24 hex
// characters of a SHA-256 of the ids, each followed by a NUL.
func backendName(prefix string, ids ...string) string {
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id + "\x00"))
	}
	return prefix + hex.EncodeToString(h.Sum(nil))[:24]
}

// loginName is a binding's login on mysql, redis and rabbitmq: "ob_" and 26 lower-case
// base32 characters of a SHA-256 of both ids.
func loginName(instanceID, bindingID string) string {
	sum := sha256.Sum256([]byte(instanceID + "\x00" + bindingID + "\x00"))
	return "ob_" + strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))[:26]
}

// expectNoBackendObjects checks the four real servers for anything of the instance and the
// binding: a postgres database, owner or binding role; a mysql schema or user; a redis ACL
// user; a rabbitmq vhost or user.
func (a backendAdmins) expectNoBackendObjects(ctx context.Context, instanceID, bindingID string) {
	GinkgoHelper()
	db, login := backendName("ob_", instanceID), loginName(instanceID, bindingID)
	Expect(databaseExists(db)).To(BeFalse(), "a postgres database")
	Expect(roleExists(backendName("ob_o_", instanceID))).To(BeFalse(), "a postgres owner role")
	Expect(roleExists(backendName("ob_b_", instanceID, bindingID))).To(BeFalse(), "a postgres binding role")
	Expect(mysqlCount(a.mysql, `SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`, db)).To(BeZero(), "a mysql schema")
	Expect(mysqlCount(a.mysql, `SELECT count(*) FROM mysql.user WHERE User = ?`, login)).To(BeZero(), "a mysql user")
	Expect(redisUsersOf(ctx, a.redis, instanceID)).To(BeEmpty(), "a redis user of the instance's prefix")
	Expect(redisUsers(ctx, a.redis)).NotTo(ContainElement(login), "a redis user")
	_, err := a.rabbit.GetVhost(db)
	Expect(rabbitFound(err)).To(BeFalse(), "a rabbitmq vhost")
	_, err = a.rabbit.GetUser(login)
	Expect(rabbitFound(err)).To(BeFalse(), "a rabbitmq user")
}

// pathIDs are the instance and binding ids a target names, decoded as the broker decodes
// them ("" for none).
func pathIDs(target string) (instanceID, bindingID string) {
	path, _, _ := strings.Cut(target, "?")
	rest, ok := strings.CutPrefix(path, "/v2/service_instances/")
	if !ok {
		return "", ""
	}
	segments := strings.Split(rest, "/")
	decode := func(s string) string {
		if d, err := url.PathUnescape(s); err == nil {
			return d
		}
		return s
	}
	instanceID = decode(segments[0])
	if len(segments) > 2 && segments[1] == "service_bindings" {
		bindingID = decode(segments[2])
	}
	return instanceID, bindingID
}

// stateRows counts every row of a state database's instances, bindings and operations.
func stateRows(db *sql.DB) int {
	GinkgoHelper()
	return count(db, `SELECT (SELECT count(*) FROM instances) + (SELECT count(*) FROM bindings) + (SELECT count(*) FROM operations)`)
}

// Ordered so that the admin logins are made once; ContinueOnFailure so that one refusal that
// is wrong does not hide the others.
var _ = Describe("Hostile requests", Ordered, ContinueOnFailure, func() {
	var admins backendAdmins
	began := time.Now()

	BeforeAll(func() {
		admins = backendAdmins{mysql: mysqlAdmin(), redis: redisAdmin(), rabbit: rabbitAdmin()}
	})

	AfterAll(func() {
		AddReportEntry("hostile requests", fmt.Sprintf("%d requests refused and checked in %s", len(hostileTable), time.Since(began)))
	})

	DescribeTable("are refused with a 4xx in an OSB JSON body, write no row, create no backend object, and panic nothing",
		func(ctx SpecContext, h hostileRequest) {
			target := strings.NewReplacer("{I}", newID(), "{B}", newID()).Replace(h.target)
			c := shared.client()
			if h.spoil != nil {
				h.spoil(c)
			}
			rowsBefore := stateRows(sharedState)
			logBefore := len(shared.session.Out.Contents()) + len(shared.session.Err.Contents())

			r, err := c.try(h.method, target, nil, h.body)
			Expect(err).NotTo(HaveOccurred(), "%s %.200s", h.method, target)
			if h.status != 0 {
				Expect(r.Status).To(Equal(h.status), r.String())
			}
			Expect(r.Status).To(And(BeNumerically(">=", 400), BeNumerically("<", 500)), r.String())
			Expect(r.Header.Get("Content-Type")).To(HavePrefix("application/json"), r.String())
			Expect(r.Body).To(HaveKeyWithValue("description", And(BeAssignableToTypeOf(""), Not(BeEmpty()))), r.String())
			if key := errorKeys[r.Status]; key != "" {
				Expect(r.Body).To(HaveKeyWithValue("error", key), r.String())
			}

			Expect(stateRows(sharedState)).To(Equal(rowsBefore), "a row was written")
			instanceID, bindingID := pathIDs(target)
			if instanceID != "" {
				admins.expectNoBackendObjects(ctx, instanceID, bindingID)
			}
			output := string(shared.session.Out.Contents()) + string(shared.session.Err.Contents())
			Expect(output[min(logBefore, len(output)):]).NotTo(ContainSubstring("panic"))
		},
		hostileEntries(),
	)
})

// hostileEntries is hostileTable as table entries, each named for what it sends.
func hostileEntries() []TableEntry {
	var entries []TableEntry
	for _, n := range hostileTable {
		entries = append(entries, Entry(n.name, n.hostileRequest))
	}
	return entries
}

// named is a hostile request and what the table calls it.
type named struct {
	name string
	hostileRequest
}
