package acceptance_test

import (
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Maintenance upgrades", func() {
	When("the catalog raises a plan's maintenance version with new settings, and the platform upgrades", func() {
		It("brings every kind's backend objects to the plan's new settings, and the bindings made before keep working", func(ctx SpecContext) {
			state := newStateDB()
			admin := mysqlAdmin()
			rAdmin, mqAdmin := redisAdmin(), rabbitAdmin()
			pg, legacy, my, rd, mq := newID(), newID(), newID(), newID(), newID()
			for _, id := range []string{pg, legacy} {
				dropLeftoverDatabase(id)
			}
			dropLeftoverMySQL(admin, my)
			dropLeftoverRedis(rAdmin, rd)

			By("provisioning and binding one instance of each kind under the first release")
			first := release1.serve(state)
			cf := first.client()
			bindings, bodies := map[string]string{}, map[string]map[string]any{}
			creds := map[string]credentials{}
			for id, p := range map[string]plan{pg: mPGPlan, legacy: mPGPlan, my: mMySQLPlan, rd: mRedisPlan, mq: mRabbitPlan} {
				bodies[id] = with(provisionBody(p, nil), "maintenance_info", maintenance("1.0.0"))
				r := cf.provision(id, bodies[id], true)
				Expect(r.Status).To(BeElementOf(http.StatusCreated, http.StatusAccepted), r.String())
				if r.Status == http.StatusAccepted {
					expectSucceeded(cf.awaitInstance(id, p, operationOf(r)))
				}
				Expect(cf.maintenanceVersionOf(id)).To(Equal("1.0.0"))
				bindings[id] = newID()
				creds[id] = cf.bindReady(id, bindings[id], p, newID())
			}
			Expect(connectionLimit(backendDatabase(pg))).To(Equal(10))
			myUser := creds[my].str("username")
			Expect(mysqlCount(admin, `SELECT max_user_connections FROM mysql.user WHERE User = ? AND Host = '%'`, myUser)).To(Equal(5))
			redisApp := redisLogin(ctx, creds[rd].str("uri"))
			Expect(redisApp.Eval(ctx, "return 1", nil).Err()).To(Succeed(), "EVAL is allowed before the upgrade")
			heldRedis := redisApp.Conn()
			DeferCleanup(heldRedis.Close)
			Expect(heldRedis.Ping(ctx).Err()).To(Succeed())
			mqVhost, mqUser := backendDatabase(mq), creds[mq].str("username")
			perms, err := mqAdmin.GetPermissionsIn(mqVhost, mqUser)
			Expect(err).NotTo(HaveOccurred())
			Expect(perms.Configure).To(Equal(".*"))
			heldAMQP := mustRabbitDial(creds[mq].str("uri"))
			By("updating the mysql instance with its maintenance_info, as an update a platform may send again later")
			cf.updated(my, with(updateBody(mMySQLPlan, mMySQLPlan, nil), "maintenance_info", maintenance("1.0.0")), mMySQLPlan)

			By("making one instance look as if it was created before instances recorded a version")
			_, err = state.open().ExecContext(ctx, `UPDATE instances SET maintenance_version = NULL WHERE id = $1`, legacy)
			Expect(err).NotTo(HaveOccurred())
			r := cf.getInstance(legacy)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			Expect(r.Body).NotTo(HaveKey("maintenance_info"))

			By("restarting the broker on the second release of the catalog")
			first.stop()
			second := release2.serve(state)
			cf = second.client()
			for id, p := range map[string]plan{pg: mPGPlan, legacy: mPGPlan, my: mMySQLPlan, rd: mRedisPlan, mq: mRabbitPlan} {
				DeferCleanup(cf.deprovisionGone, id, p)
				DeferCleanup(cf.unbindGone, id, bindings[id], p)
			}
			Expect(planVersions(cf.catalog())).To(HaveKeyWithValue(mPGPlan.planID, HaveKeyWithValue("version", "1.1.0")))
			Expect(cf.maintenanceVersionOf(pg)).To(Equal("1.0.0"), "an instance keeps its version until it is upgraded")

			By("answering replays of requests accepted under the first release as they were answered then")
			r = cf.provision(pg, bodies[pg], true)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			r = cf.provision(pg, with(bodies[pg], "maintenance_info", maintenance("0.9.0")), true)
			Expect(r.Status).To(Equal(http.StatusConflict), "the same instance with another version: %s", r)
			r = cf.update(my, with(updateBody(mMySQLPlan, mMySQLPlan, nil), "maintenance_info", maintenance("1.0.0")), true)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			Expect(cf.maintenanceVersionOf(my)).To(Equal("1.0.0"), "a replay upgrades nothing")

			By("refusing an upgrade to a version that is not the plan's")
			r = cf.update(pg, upgradeBody(mPGPlan, "2.0.0"), true)
			expectOSBErrorCode(r, http.StatusUnprocessableEntity, "MaintenanceInfoConflict")

			By("upgrading each instance with its plan's new maintenance_info")
			cf.updated(pg, upgradeBody(mPGPlan, "1.1.0"), mPGPlan)
			cf.updated(legacy, upgradeBody(mPGPlan, "1.1.0"), mPGPlan)
			cf.updated(my, upgradeBody(mMySQLPlan, "1.1.0"), mMySQLPlan)
			cf.updated(rd, upgradeBody(mRedisPlan, "1.1.0"), mRedisPlan)
			cf.updated(mq, upgradeBody(mRabbitPlan, "1.1.0-rc.1"), mRabbitPlan)
			for id, v := range map[string]string{pg: "1.1.0", legacy: "1.1.0", my: "1.1.0", rd: "1.1.0", mq: "1.1.0-rc.1"} {
				Expect(cf.maintenanceVersionOf(id)).To(Equal(v))
			}

			By("finding postgres at the new connection limit with the new extension, for the binding made before")
			for _, id := range []string{pg, legacy} {
				Expect(connectionLimit(backendDatabase(id))).To(Equal(15))
				var citext int
				Expect(mustConnect(creds[id].str("uri")).QueryRowContext(ctx,
					`SELECT count(*) FROM pg_extension WHERE extname = 'citext'`).Scan(&citext)).To(Succeed())
				Expect(citext).To(Equal(1))
			}

			By("finding the mysql binding's user at the new max_user_connections, still logging in")
			Expect(mysqlCount(admin, `SELECT max_user_connections FROM mysql.user WHERE User = ? AND Host = '%'`, myUser)).To(Equal(7))
			Expect(mysqlLogin(ctx, creds[my].str("uri")).PingContext(ctx)).To(Succeed())

			By("finding the redis binding's user under the new ACL rules, its connection kept")
			expectRedisNoPerm(redisApp.Eval(ctx, "return 1", nil).Err(), "EVAL, which the plan now denies")
			Expect(heldRedis.Ping(ctx).Err()).To(Succeed(), "the connection made before the upgrade is still open")
			Expect(redisApp.Set(ctx, redisKeyPrefix(rd)+"after", "upgrade", 0).Err()).To(Succeed())
			Expect(redisLogin(ctx, creds[rd].str("uri")).Ping(ctx).Err()).To(Succeed())

			By("finding the rabbitmq binding's user with the new permissions, its connection kept")
			perms, err = mqAdmin.GetPermissionsIn(mqVhost, mqUser)
			Expect(err).NotTo(HaveOccurred())
			Expect([]string{perms.Configure, perms.Write, perms.Read}).To(Equal([]string{`^app\.`, ".*", ".*"}))
			Expect(heldAMQP.IsClosed()).To(BeFalse())
			mustRabbitDial(creds[mq].str("uri"))

			By("answering the same upgrade sent again with 200, changing nothing")
			r = cf.update(pg, upgradeBody(mPGPlan, "1.1.0"), true)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			Expect(connectionLimit(backendDatabase(pg))).To(Equal(15))
		})
	})

	When("the broker that accepted an upgrade stops before any worker ran it", func() {
		It("answers the same PATCH with the queued operation, and a broker started later on the same state finishes it", func(ctx SpecContext) {
			state := newStateDB()
			rAdmin := redisAdmin()
			id, bindingID := newID(), newID()
			dropLeftoverRedis(rAdmin, id)

			first := release1.serve(state)
			cf := first.client()
			cf.provisionReady(id, mRedisPlan, nil)
			creds := cf.bindReady(id, bindingID, mRedisPlan, newID())
			first.stop()

			By("accepting the upgrade on a broker without workers, and its replay")
			idle := startBroker(state, map[string]string{"OMNIBROKER_CONFIG": release2.file(), "OMNIBROKER_WORKERS": "0"})
			cf = idle.client()
			r := cf.update(id, upgradeBody(mRedisPlan, "1.1.0"), true)
			Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
			op := operationOf(r)
			r = cf.update(id, upgradeBody(mRedisPlan, "1.1.0"), true)
			Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
			Expect(operationOf(r)).To(Equal(op))
			Expect(cf.lastOperation(id, mRedisPlan, op).Body).To(HaveKeyWithValue("state", "in progress"))
			idle.kill()

			By("finishing it on the next broker")
			cf = release2.serve(state).client()
			DeferCleanup(cf.deprovisionGone, id, mRedisPlan)
			DeferCleanup(cf.unbindGone, id, bindingID, mRedisPlan)
			expectSucceeded(cf.awaitInstance(id, mRedisPlan, op))
			Expect(cf.maintenanceVersionOf(id)).To(Equal("1.1.0"))
			app := redisLogin(ctx, creds.str("uri"))
			expectRedisNoPerm(app.Eval(ctx, "return 1", nil).Err(), "EVAL, which the plan now denies")
			Expect(app.Set(ctx, redisKeyPrefix(id)+"k", "v", 0).Err()).To(Succeed())
		})
	})
})
