package acceptance_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"os/exec"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

var _ = Describe("Credentials at rest", func() {
	It("are sealed: no binding password appears in the state database", func() {
		cf := shared.client()
		id, bindingID := newID(), newID()
		r := cf.provision(id, provisionBody(quickPlan, nil), true)
		DeferCleanup(cf.deprovisionGone, id, quickPlan)
		Expect(r.Status).To(Equal(http.StatusCreated), r.String())
		creds := cf.bindReady(id, bindingID, quickPlan, newID())
		DeferCleanup(cf.unbindGone, id, bindingID, quickPlan)
		password := creds.str("password")
		Expect(password).NotTo(BeEmpty())
		db := shared.state.open()

		By("reading the binding's sealed columns")
		var secret, sealed []byte
		Expect(db.QueryRow(`SELECT secret, credentials FROM bindings WHERE id = $1`, bindingID).Scan(&secret, &sealed)).To(Succeed())
		Expect(secret).NotTo(BeEmpty())
		Expect(sealed).NotTo(BeEmpty())
		// The failure messages below never print the password itself.
		Expect(bytes.Contains(secret, []byte(password))).To(BeFalse(), "bindings.secret holds the plaintext password")
		Expect(bytes.Contains(sealed, []byte(password))).To(BeFalse(), "bindings.credentials holds the plaintext password")

		By("reading every row of every table as text")
		names := queryStrings(db, `SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`)
		Expect(names).NotTo(BeEmpty())

		hexPassword := hex.EncodeToString([]byte(password))
		for _, table := range names {
			rows, err := db.Query(`SELECT t::text FROM ` + table + ` t`)
			Expect(err).NotTo(HaveOccurred())
			for rows.Next() {
				var row string
				Expect(rows.Scan(&row)).To(Succeed())
				Expect(strings.Contains(row, password)).To(BeFalse(), "a row of %s holds the plaintext password", table)
				Expect(strings.Contains(strings.ToLower(row), hexPassword)).To(BeFalse(), "a row of %s holds the plaintext password as bytes", table)
			}
			Expect(rows.Err()).NotTo(HaveOccurred())
			Expect(rows.Close()).To(Succeed())
		}
	})
})

var _ = Describe("Broker output", func() {
	It("never holds the basic-auth password, the encryption key, or a binding's password", func() {
		By("binding, so that the broker has handed out a password")
		cf := shared.client()
		id, bindingID := newID(), newID()
		r := cf.provision(id, provisionBody(quickPlan, nil), true)
		DeferCleanup(cf.deprovisionGone, id, quickPlan)
		Expect(r.Status).To(Equal(http.StatusCreated), r.String())
		cf.bindReady(id, bindingID, quickPlan, newID())
		r = cf.getBinding(id, bindingID)
		Expect(r.Status).To(Equal(http.StatusOK), r.String())
		cf.unbindGone(id, bindingID, quickPlan)

		By("reading everything the broker printed, the access lines of the answers that carried the password too")
		Expect(shared.session.Out.Contents()).NotTo(BeEmpty(), "the broker logs to stdout")
		route := "/v2/service_instances/{instance_id}/service_bindings/{binding_id}"
		Eventually(func() []logLine { return accessLines(shared, 0) }).Should(ContainElements(
			HaveField("Data", And(HaveKeyWithValue("route", route), HaveKeyWithValue("method", "PUT"), HaveKeyWithValue("binding-id", bindingID))),
			HaveField("Data", And(HaveKeyWithValue("route", route), HaveKeyWithValue("method", "GET"), HaveKeyWithValue("binding-id", bindingID))),
		))
		Consistently(secretLeaks).Should(BeEmpty())
	})
})

var _ = Describe("Rotating the encryption key", func() {
	It("re-seals every binding online, after which the old key can be retired", func() {
		state := newStateDB()
		id, bindingID := newID(), newID()

		By("binding under the first key")
		first := startBroker(state, nil)
		cf := first.client()
		cf.provisionReady(id, quickPlan, nil)
		creds := cf.bindReady(id, bindingID, quickPlan, newID())
		first.stop()

		By("re-sealing under a new key, with the first still accepted")
		key := make([]byte, 32)
		_, err := rand.Read(key)
		Expect(err).NotTo(HaveOccurred())
		newKey := base64.StdEncoding.EncodeToString(key)
		rememberSecret("the rotated encryption key", newKey)
		cmd := exec.Command(binaryPath, "reseal")
		cmd.Env = []string{
			"DATABASE_URL=" + state.url,
			"OMNIBROKER_ENCRYPTION_KEY=" + newKey,
			"OMNIBROKER_OLD_ENCRYPTION_KEYS=" + encryptionKey,
		}
		session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session, 30*time.Second).Should(gexec.Exit(0))
		Expect(session.Out).To(gbytes.Say("re-sealed 1 bindings"))
		Expect(session.Out).To(gbytes.Say(`values still sealed under old key [0-9a-f]+: 0`))
		expectSessionHasNoSecrets(session)

		By("serving the same credentials with the new key alone")
		second := startBroker(state, map[string]string{"OMNIBROKER_ENCRYPTION_KEY": newKey})
		cf = second.client()
		r := cf.getBinding(id, bindingID)
		Expect(r.Status).To(Equal(http.StatusOK), r.String())
		Expect(credentialsOf(r).str("password")).To(Equal(creds.str("password")), "the password read back after re-sealing")
		cf.unbindGone(id, bindingID, quickPlan)
		cf.deprovisionGone(id, quickPlan)
	})
})
