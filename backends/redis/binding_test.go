package redis_test

import (
	"context"
	"net/url"
	"sync"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	goredis "github.com/redis/go-redis/v9"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
)

// own stands for a key of the binding's own instance in a command.
const own = "<own key>"

// expectNoPerm expects that err is Redis refusing a command or key to the user.
func expectNoPerm(err error, what string) {
	ExpectWithOffset(1, goredis.IsPermissionError(err)).To(BeTrue(), "%s: %v", what, err)
}

var _ = Describe("Bind", func() {
	It("returns credentials with which an application uses keys and channels under the instance's prefix", func(ctx SpecContext) {
		inst := provisioned(ctx)
		b, creds := suite.Bound(ctx, inst)
		prefix := keyPrefix(inst)

		// Key by key, and the count as a boolean: a failing matcher on the whole map would print
		// the password.
		Expect(len(creds) == 8).To(BeTrue(), "host, port, username, password, key_prefix, uri, type and provider, and nothing else")
		backendtest.ExpectMountable(creds, "redis")
		Expect(creds["host"]).To(Equal("127.0.0.1"))
		Expect(creds["port"]).To(Equal(6379))
		Expect(creds["username"]).To(Equal(userName(inst, b)))
		Expect(creds["key_prefix"]).To(Equal(prefix))
		Expect(creds["password"] == b.Password).To(BeTrue(), "the password is the binding's")
		Expect(len(creds["username"].(string))).To(BeNumerically("<=", 32))
		uri, err := url.Parse(creds["uri"].(string))
		Expect(err == nil).To(BeTrue(), "the URL parses") // url.Parse's error would quote the password
		Expect(uri.Scheme).To(Equal("redis"))
		Expect(uri.Host).To(Equal("127.0.0.1:6379"))
		Expect(uri.User.Username()).To(Equal(userName(inst, b)))
		password, _ := uri.User.Password()
		Expect(password == b.Password).To(BeTrue(), "the uri carries the binding's password")

		app := mustLogin(ctx, creds)
		Expect(app.ACLWhoAmI(ctx).Val()).To(Equal(userName(inst, b)))
		Expect(app.Set(ctx, prefix+"greeting", "hello", 0).Err()).To(Succeed())
		Expect(app.Get(ctx, prefix+"greeting").Val()).To(Equal("hello"))
		Expect(app.HSet(ctx, prefix+"h", "f", "v").Err()).To(Succeed())
		Expect(app.MemoryUsage(ctx, prefix+"greeting").Err()).To(Succeed(), "MEMORY USAGE of its own key")
		Expect(app.Eval(ctx, `return redis.call('INCR', KEYS[1])`, []string{prefix + "counter"}).Val()).To(BeEquivalentTo(1))
		_, err = app.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Incr(ctx, prefix+"counter")
			p.Expire(ctx, prefix+"counter", time.Minute)
			return nil
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(app.Del(ctx, prefix+"greeting", prefix+"h").Val()).To(BeEquivalentTo(2))
		Expect(app.Exists(ctx, prefix+"greeting").Val()).To(BeZero())

		sub := app.Subscribe(ctx, prefix+"news")
		DeferCleanup(sub.Close)
		_, err = sub.ReceiveTimeout(ctx, 5*time.Second)
		Expect(err).NotTo(HaveOccurred())
		publisher := mustLogin(ctx, creds)
		Expect(publisher.Publish(ctx, prefix+"news", "extra").Val()).To(BeEquivalentTo(1))
		msg, err := sub.ReceiveTimeout(ctx, 5*time.Second)
		Expect(err).NotTo(HaveOccurred())
		Expect(msg).To(BeAssignableToTypeOf(&goredis.Message{}))
		Expect(msg.(*goredis.Message).Payload).To(Equal("extra"))
	})

	It("gives no access to another instance's keys and channels, nor to keys outside any prefix", func(ctx SpecContext) {
		a, other := provisioned(ctx), provisioned(ctx)
		_, creds := suite.Bound(ctx, a)
		app := mustLogin(ctx, creds)
		theirs := keyPrefix(other)
		Expect(suite.Admin.Set(ctx, theirs+"secret", "x", 0).Err()).To(Succeed())

		expectNoPerm(app.Get(ctx, theirs+"secret").Err(), "GET of another instance's key")
		expectNoPerm(app.Set(ctx, theirs+"secret", "y", 0).Err(), "SET of another instance's key")
		expectNoPerm(app.Del(ctx, theirs+"secret").Err(), "DEL of another instance's key")
		expectNoPerm(app.Set(ctx, "unprefixed", "y", 0).Err(), "SET of a key outside any prefix")
		expectNoPerm(app.Rename(ctx, keyPrefix(a)+"k", theirs+"k").Err(), "RENAME into another instance's prefix")
		expectNoPerm(app.Eval(ctx, `return redis.call('GET', KEYS[1])`, []string{theirs + "secret"}).Err(), "a script reading another instance's key")
		expectNoPerm(app.MemoryUsage(ctx, theirs+"secret").Err(), "MEMORY USAGE of another instance's key")
		expectNoPerm(app.ObjectEncoding(ctx, theirs+"secret").Err(), "OBJECT ENCODING of another instance's key")
		expectNoPerm(app.Publish(ctx, theirs+"news", "x").Err(), "PUBLISH on another instance's channel")
		expectNoPerm(app.SPublish(ctx, theirs+"news", "x").Err(), "SPUBLISH on another instance's shard channel")
		for _, pattern := range []string{"*", "ob:*", theirs + "*"} {
			psub := app.PSubscribe(ctx, pattern)
			_, err := psub.ReceiveTimeout(ctx, 5*time.Second)
			expectNoPerm(err, "PSUBSCRIBE "+pattern)
			Expect(psub.Close()).To(Succeed())
		}
		sub := app.Subscribe(ctx, theirs+"news")
		DeferCleanup(sub.Close)
		_, err := sub.ReceiveTimeout(ctx, 5*time.Second)
		expectNoPerm(err, "SUBSCRIBE to another instance's channel")
		Expect(suite.Admin.Get(ctx, theirs+"secret").Val()).To(Equal("x"))
	})

	DescribeTable("refuses commands that reach beyond the instance's prefix",
		func(ctx SpecContext, args ...any) {
			inst := provisioned(ctx)
			_, creds := suite.Bound(ctx, inst)
			app := mustLogin(ctx, creds)
			cmd := make([]any, len(args))
			for i, a := range args {
				cmd[i] = a
				if a == own {
					cmd[i] = keyPrefix(inst) + "k"
				}
			}
			Expect(app.Set(ctx, keyPrefix(inst)+"k", "v", 0).Err()).To(Succeed())
			expectNoPerm(app.Do(ctx, cmd...).Err(), "the command")
		},
		Entry("FLUSHALL", "FLUSHALL"),
		Entry("FLUSHDB", "FLUSHDB"),
		Entry("SWAPDB", "SWAPDB", 0, 1),
		Entry("KEYS", "KEYS", "*"),
		Entry("SCAN", "SCAN", 0),
		Entry("RANDOMKEY", "RANDOMKEY"),
		Entry("SELECT", "SELECT", 1),
		Entry("MOVE", "MOVE", own, 1),
		Entry("COPY, which can write to another database", "COPY", own, own, "DB", 1),
		Entry("MIGRATE", "MIGRATE", "127.0.0.1", 1, own, 0, 10),
		Entry("CONFIG GET", "CONFIG", "GET", "maxmemory"),
		Entry("INFO", "INFO"),
		Entry("INFO keyspace, which counts every instance's keys", "INFO", "keyspace"),
		Entry("DBSIZE", "DBSIZE"),
		Entry("MEMORY STATS", "MEMORY", "STATS"),
		Entry("MEMORY DOCTOR", "MEMORY", "DOCTOR"),
		Entry("MEMORY MALLOC-STATS", "MEMORY", "MALLOC-STATS"),
		Entry("SHUTDOWN", "SHUTDOWN", "ABORT"),
		Entry("MONITOR", "MONITOR"),
		Entry("LASTSAVE", "LASTSAVE"),
		Entry("ACL LIST", "ACL", "LIST"),
		Entry("ACL SETUSER", "ACL", "SETUSER", "ob-intruder"),
		Entry("ACL GETUSER", "ACL", "GETUSER", "default"),
		Entry("ACL USERS", "ACL", "USERS"),
		Entry("CLIENT LIST", "CLIENT", "LIST"),
		Entry("CLIENT KILL", "CLIENT", "KILL", "ID", 999999999),
		Entry("CLIENT TRACKING, which can report other instances' key names", "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "ob:"),
		Entry("CLIENT PAUSE", "CLIENT", "PAUSE", 1),
		Entry("CLIENT UNPAUSE", "CLIENT", "UNPAUSE"),
		Entry("CLIENT UNBLOCK, which wakes another client's blocked command", "CLIENT", "UNBLOCK", 1),
		Entry("CLIENT NO-EVICT", "CLIENT", "NO-EVICT", "ON"),
		Entry("SLOWLOG GET, which shows other clients' commands and their arguments", "SLOWLOG", "GET"),
		Entry("SLOWLOG LEN", "SLOWLOG", "LEN"),
		Entry("LATENCY LATEST", "LATENCY", "LATEST"),
		Entry("LATENCY HISTOGRAM", "LATENCY", "HISTOGRAM"),
		Entry("MEMORY PURGE", "MEMORY", "PURGE"),
		Entry("SYNC, which sends the whole data set", "SYNC"),
		Entry("PSYNC", "PSYNC", "?", -1),
		Entry("ACL LOG, which shows other users' refused commands", "ACL", "LOG"),
		Entry("PUBSUB CHANNELS", "PUBSUB", "CHANNELS"),
		Entry("PUBSUB NUMSUB, which counts another instance's subscribers", "PUBSUB", "NUMSUB", "ob:x"),
		Entry("PUBSUB NUMPAT", "PUBSUB", "NUMPAT"),
		Entry("PUBSUB SHARDCHANNELS", "PUBSUB", "SHARDCHANNELS"),
		Entry("CLUSTER GETKEYSINSLOT", "CLUSTER", "GETKEYSINSLOT", 0, 10),
		Entry("CLUSTER COUNTKEYSINSLOT", "CLUSTER", "COUNTKEYSINSLOT", 0),
		Entry("FUNCTION LIST", "FUNCTION", "LIST"),
		Entry("FUNCTION DUMP", "FUNCTION", "DUMP"),
		Entry("FUNCTION LOAD", "FUNCTION", "LOAD", "#!lua name=ob\nredis.register_function('f', function() return 1 end)"),
		Entry("FUNCTION DELETE", "FUNCTION", "DELETE", "no-such-library"),
		Entry("FCALL, which tells whether a function of that name is loaded", "FCALL", "f", 0),
		Entry("FCALL_RO", "FCALL_RO", "f", 0),
		Entry("SCRIPT EXISTS, which tells which scripts other instances loaded", "SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"),
		Entry("SCRIPT FLUSH", "SCRIPT", "FLUSH"),
		Entry("SCRIPT KILL", "SCRIPT", "KILL"),
		Entry("SCRIPT DEBUG", "SCRIPT", "DEBUG", "NO"),
		Entry("SORT, whose BY and GET read any key", "SORT", own),
		Entry("SORT_RO", "SORT_RO", own, "BY", "nosort", "GET", "*"),
	)

	It("refuses DEBUG, which a node may also refuse on its own before it looks at the user", func(ctx SpecContext) {
		inst := provisioned(ctx)
		b, _ := suite.Bound(ctx, inst)
		Expect(suite.Admin.ACLDryRun(ctx, userName(inst, b), "DEBUG", "SLEEP", 0).Val()).To(ContainSubstring("no permissions to run the 'debug' command"))
		Expect(suite.Admin.ACLDryRun(ctx, userName(inst, b), "SET", keyPrefix(inst)+"k", "v").Val()).To(Equal("OK"))
	})

	It("leaves scripts usable, as client libraries load and call them", func(ctx SpecContext) {
		inst := provisioned(ctx)
		_, creds := suite.Bound(ctx, inst)
		app := mustLogin(ctx, creds)
		script := goredis.NewScript(`return redis.call('SET', KEYS[1], ARGV[1])`)
		Expect(script.Load(ctx, app).Err()).To(Succeed())
		Expect(script.EvalSha(ctx, app, []string{keyPrefix(inst) + "s"}, "v").Err()).To(Succeed())
		Expect(suite.Admin.Get(ctx, keyPrefix(inst)+"s").Val()).To(Equal("v"))
	})

	It("leaves an application the commands that tell it only of itself and its own channels", func(ctx SpecContext) {
		inst := provisioned(ctx)
		b, creds := suite.Bound(ctx, inst)
		app := heldConn(mustLogin(ctx, creds))
		Expect(app.Do(ctx, "ACL", "WHOAMI").Val()).To(Equal(userName(inst, b)))
		Expect(app.ClientID(ctx).Err()).To(Succeed())
		Expect(app.ClientSetName(ctx, "app").Err()).To(Succeed())
		Expect(app.Do(ctx, "CLIENT", "INFO").Val()).To(ContainSubstring("name=app"))
		Expect(app.Do(ctx, "CLIENT", "GETNAME").Val()).To(Equal("app"))
		Expect(app.Do(ctx, "WAIT", 0, 0).Err()).To(Succeed())

		psub := mustLogin(ctx, creds).PSubscribe(ctx, keyPrefix(inst)+"*")
		DeferCleanup(psub.Close)
		_, err := psub.ReceiveTimeout(ctx, 5*time.Second)
		Expect(err).NotTo(HaveOccurred())
		Expect(app.Publish(ctx, keyPrefix(inst)+"news", "extra").Val()).To(BeEquivalentTo(1))
		msg, err := psub.ReceiveTimeout(ctx, 5*time.Second)
		Expect(err).NotTo(HaveOccurred())
		Expect(msg.(*goredis.Message).Payload).To(Equal("extra"))
	})

	It("confines channels also on a node whose acl-pubsub-default lets reset grant every channel", func(ctx SpecContext) {
		addr := startRedisServer(append(securedServerArgs(), "--acl-pubsub-default", "allchannels")...)
		r := suite.Open(backends.Server{Name: "redis-allchannels", AdminURL: "redis://" + adminUser + ":" + adminPassword + "@" + addr})
		inst := backends.Instance{ID: uuid.NewString(), Node: "redis-allchannels"}
		calls := suite.CallsOf(r)
		Expect(calls.Provision(suite.Logged(ctx), inst)).To(Succeed())
		b := newBinding()
		creds, err := calls.Bind(suite.Logged(ctx), inst, b)
		Expect(err).NotTo(HaveOccurred())

		app := mustLogin(ctx, creds)
		Expect(app.Publish(ctx, keyPrefix(inst)+"news", "x").Err()).To(Succeed())
		expectNoPerm(app.Publish(ctx, "ob:other:news", "x").Err(), "PUBLISH outside the prefix")
		sub := app.Subscribe(ctx, "ob:other:news")
		DeferCleanup(sub.Close)
		_, err = sub.ReceiveTimeout(ctx, 5*time.Second)
		expectNoPerm(err, "SUBSCRIBE outside the prefix")
	})

	It("sets the same user again when retried, leaving its clients connected", func(ctx SpecContext) {
		inst := provisioned(ctx)
		b, first := suite.Bound(ctx, inst)
		before, err := suite.Admin.Do(ctx, "ACL", "GETUSER", userName(inst, b)).Result()
		Expect(err).NotTo(HaveOccurred())
		open := heldConn(mustLogin(ctx, first))
		Expect(open.Ping(ctx).Err()).To(Succeed())

		again, err := suite.Calls().Bind(suite.Logged(ctx), inst, b)
		Expect(err).NotTo(HaveOccurred())

		for _, k := range []string{"host", "port", "username", "key_prefix"} {
			Expect(again[k]).To(Equal(first[k]), k)
		}
		Expect(again["password"] == first["password"] && again["uri"] == first["uri"]).To(BeTrue(), "the same password and uri")
		Expect(suite.Admin.Do(ctx, "ACL", "GETUSER", userName(inst, b)).Val()).To(Equal(before))
		Expect(open.Ping(ctx).Err()).To(Succeed())
		mustLogin(ctx, again)
	})

	It("keeps the password off the node, which holds only its SHA-256, and out of the log", func(ctx SpecContext) {
		inst := provisioned(ctx)
		b, _ := suite.Bound(ctx, inst)

		user, err := suite.Admin.Do(ctx, "ACL", "GETUSER", userName(inst, b)).Result()
		Expect(err).NotTo(HaveOccurred())
		Expect(user).To(HaveKey("passwords"))
		passwords := user.(map[any]any)["passwords"].([]any)
		Expect(passwords).To(HaveLen(1))
		Expect(passwords[0]).To(HaveLen(64))
		Expect(passwords[0] == b.Password).To(BeFalse())
		Expect(string(suite.Logger.Buffer().Contents())).To(ContainSubstring("user-set"))
		Expect(string(suite.Logger.Buffer().Contents())).NotTo(ContainSubstring(b.Password))
	})

	When("the node lost its ACL users, as after a restart without an aclfile", func() {
		It("restores the login when the broker binds again with the same password", func(ctx SpecContext) {
			inst := provisioned(ctx)
			b, creds := suite.Bound(ctx, inst)
			mustLogin(ctx, creds)
			Expect(suite.Admin.ACLDelUser(ctx, userName(inst, b)).Err()).To(Succeed())
			_, err := login(ctx, creds)
			Expect(goredis.IsAuthError(err)).To(BeTrue(), "%v", err)

			_, err = suite.Calls().Bind(suite.Logged(ctx), inst, b)
			Expect(err).NotTo(HaveOccurred())

			app := mustLogin(ctx, creds)
			Expect(app.Set(ctx, keyPrefix(inst)+"k", "v", 0).Err()).To(Succeed())
			expectNoPerm(app.Do(ctx, "FLUSHALL").Err(), "FLUSHALL after the restore")
		})
	})

	When("several workers bind the same binding at once", func() {
		It("succeeds for all of them with one user that logs in", func(ctx SpecContext) {
			inst := provisioned(ctx)
			b := newBinding()
			var wg sync.WaitGroup
			creds := make([]backends.Credentials, 4)
			errs := make([]error, 4)
			for i := range errs {
				wg.Go(func() { creds[i], errs[i] = suite.Calls().Bind(suite.Logged(ctx), inst, b) })
			}
			wg.Wait()
			for _, err := range errs {
				Expect(err).NotTo(HaveOccurred())
			}
			Expect(usersOf(ctx, inst)).To(ConsistOf(userName(inst, b)))
			mustLogin(ctx, creds[3])
		})
	})

	It("fails permanently for a binding without a password", func(ctx SpecContext) {
		inst := provisioned(ctx)
		_, err := suite.Calls().Bind(suite.Logged(ctx), inst, backends.Binding{ID: "no-password"})
		Expect(backends.IsPermanent(err)).To(BeTrue(), "%v", err)
		Expect(usersOf(ctx, inst)).To(BeEmpty())
	})
})

var _ = Describe("BindingLost", func() {
	It("is false for a bound binding, and true once its user is gone, as after a restart without an aclfile", func(ctx SpecContext) {
		inst := provisioned(ctx)
		b, creds := suite.Bound(ctx, inst)
		Expect(suite.Calls().BindingLost(suite.Logged(ctx), inst, b)).To(BeFalse())

		Expect(suite.Admin.ACLDelUser(ctx, userName(inst, b)).Err()).To(Succeed())
		Expect(suite.Calls().BindingLost(suite.Logged(ctx), inst, b)).To(BeTrue())
		Expect(userExists(ctx, userName(inst, b))).To(BeFalse(), "the check changes nothing")

		_, err := suite.Calls().Bind(suite.Logged(ctx), inst, b)
		Expect(err).NotTo(HaveOccurred())
		Expect(suite.Calls().BindingLost(suite.Logged(ctx), inst, b)).To(BeFalse())
		mustLogin(ctx, creds)
	})

	It("is false for another binding of the instance that is still there", func(ctx SpecContext) {
		inst := provisioned(ctx)
		lost, _ := suite.Bound(ctx, inst)
		kept, _ := suite.Bound(ctx, inst)
		Expect(suite.Admin.ACLDelUser(ctx, userName(inst, lost)).Err()).To(Succeed())
		Expect(suite.Calls().BindingLost(suite.Logged(ctx), inst, lost)).To(BeTrue())
		Expect(suite.Calls().BindingLost(suite.Logged(ctx), inst, kept)).To(BeFalse())
	})
})

var _ = Describe("Unbind", func() {
	suite.ItUnbinds("ends the binding's clients and logins, and leaves the other bindings and the keys alone", provisioned,
		func(ctx context.Context, inst backends.Instance, first, other backendtest.Bound) backendtest.Unbound {
			app1 := mustLogin(ctx, first.Credentials)
			open := heldConn(app1)
			Expect(open.Set(ctx, keyPrefix(inst)+"k", "v", 0).Err()).To(Succeed())
			sub := app1.Subscribe(ctx, keyPrefix(inst)+"news")
			DeferCleanup(sub.Close)
			_, err := sub.ReceiveTimeout(ctx, 5*time.Second)
			Expect(err).NotTo(HaveOccurred())
			return backendtest.Unbound{
				Ended: func(ctx context.Context) {
					Expect(open.Get(ctx, keyPrefix(inst)+"k").Err()).To(HaveOccurred())
					_, err := sub.ReceiveTimeout(ctx, 5*time.Second)
					Expect(err).To(HaveOccurred())
				},
				Gone: func(ctx context.Context) {
					_, err := login(ctx, first.Credentials)
					Expect(goredis.IsAuthError(err)).To(BeTrue(), "%v", err)
					Expect(userExists(ctx, userName(inst, first.Binding))).To(BeFalse())
				},
				Kept: func(ctx context.Context) {
					Expect(mustLogin(ctx, other.Credentials).Get(ctx, keyPrefix(inst)+"k").Val()).To(Equal("v"))
				},
			}
		})

	It("finds, checks and deletes the user of a binding recorded before login names carried 130 bits under its old name", func(ctx SpecContext) {
		inst := provisioned(ctx)
		b := newBinding()
		b.LegacyName = true
		creds, err := suite.Calls().Bind(suite.Logged(ctx), inst, b)
		Expect(err).NotTo(HaveOccurred())
		Expect(creds["username"]).To(MatchRegexp(`^ob_[0-9a-f]{12}_[0-9a-f]{12}$`))
		mustLogin(ctx, creds)
		Expect(suite.Calls().BindingLost(suite.Logged(ctx), inst, b)).To(BeFalse())

		Expect(suite.Calls().Unbind(suite.Logged(ctx), inst, b)).To(Succeed())
		Expect(userExists(ctx, creds["username"].(string))).To(BeFalse())
	})
})
