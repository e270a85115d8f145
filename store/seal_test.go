package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/google/uuid"
	"github.com/lib/pq"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("Keyring", func() {
	DescribeTable("NewKeyring rejects a key that is not 32 bytes",
		func(current []byte, old [][]byte, want string) {
			_, err := store.NewKeyring(current, old...)
			Expect(err).To(MatchError(ContainSubstring(want)))
		},
		Entry("a 31-byte current key", make([]byte, 31), nil, "31 bytes"),
		Entry("an empty current key", []byte{}, nil, "0 bytes"),
		Entry("a 33-byte old key", make([]byte, 32), [][]byte{make([]byte, 33)}, "33 bytes"),
	)

	It("names a key by the first 8 hex characters of its SHA-256", func() {
		key := newKey()
		sum := sha256.Sum256(key)
		k, err := store.NewKeyring(key)
		Expect(err).NotTo(HaveOccurred())
		Expect(k.CurrentKeyID()).To(Equal(hex.EncodeToString(sum[:])[:8]))
		Expect(store.KeyID(key)).To(Equal(k.CurrentKeyID()))
	})

	It("parses standard base64 keys, skipping empty old ones", func() {
		cur, old := newKey(), newKey()
		k, err := store.ParseKeyring(base64.StdEncoding.EncodeToString(cur), []string{"", base64.StdEncoding.EncodeToString(old)})
		Expect(err).NotTo(HaveOccurred())
		Expect(k.CurrentKeyID()).To(Equal(store.KeyID(cur)))
	})

	DescribeTable("ParseKeyring rejects bad keys without repeating them",
		func(current string, old []string) {
			_, err := store.ParseKeyring(current, old)
			Expect(err).To(HaveOccurred())
			if current != "" {
				Expect(err.Error()).NotTo(ContainSubstring(current))
			}
		},
		Entry("not base64", "%%not-base64-at-all%%", nil),
		Entry("too short", base64.StdEncoding.EncodeToString(make([]byte, 16)), nil),
		Entry("a bad old key", base64.StdEncoding.EncodeToString(make([]byte, 32)), []string{"!!"}),
	)
})

var _ = Describe("Sealing credentials at rest", func() {
	const credentials = `{"username":"ob_user_3f9a","password":"Cr3dPassw0rdValue","uri":"postgres://ob_user_3f9a:Cr3dPassw0rdValue@pg-1:5432/db"}`

	It("stores neither the password nor any credential value in plaintext", func(ctx SpecContext) {
		inst, b := boundBinding(ctx, credentials)

		var row struct {
			Secret           []byte `db:"secret"`
			SecretKeyID      string `db:"secret_key_id"`
			Credentials      []byte `db:"credentials"`
			CredentialsKeyID string `db:"credentials_key_id"`
			Text             string `db:"text"`
		}
		Expect(st.DB().GetContext(ctx, &row, `
SELECT secret, secret_key_id, credentials, credentials_key_id, row_to_json(b)::text AS text
FROM bindings b
WHERE id = $1`, b.ID)).To(Succeed())

		Expect(row.SecretKeyID).To(Equal(keys.CurrentKeyID()))
		Expect(row.CredentialsKeyID).To(Equal(keys.CurrentKeyID()))
		for _, plain := range []string{b.Password, "ob_user_3f9a", "Cr3dPassw0rdValue", "pg-1:5432"} {
			Expect(bytes.Contains(row.Secret, []byte(plain))).To(BeFalse(), "secret column holds %q", plain)
			Expect(bytes.Contains(row.Credentials, []byte(plain))).To(BeFalse(), "credentials column holds %q", plain)
			Expect(row.Text).NotTo(ContainSubstring(plain))
			Expect(row.Text).NotTo(ContainSubstring(hex.EncodeToString([]byte(plain))))
		}

		got, err := st.GetBinding(ctx, inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Password == b.Password).To(BeTrue(), "the stored password is the one generated")
		Expect(got.Credentials).To(MatchJSON(credentials))
	})

	It("seals the same value differently each time", func(ctx SpecContext) {
		inst, other := readyInstance(ctx), readyInstance(ctx)
		first := newBinding(inst.ID)
		Expect(st.CreateBinding(ctx, first, newOperation(store.OpBind, inst.ID, first.ID))).To(Succeed())
		second := newBinding(other.ID)
		second.Password = first.Password
		Expect(st.CreateBinding(ctx, second, newOperation(store.OpBind, other.ID, second.ID))).To(Succeed())

		var secrets [][]byte
		Expect(st.DB().SelectContext(ctx, &secrets, "SELECT secret FROM bindings WHERE id IN ($1, $2)", first.ID, second.ID)).To(Succeed())
		Expect(secrets).To(HaveLen(2))
		Expect(secrets[0]).NotTo(Equal(secrets[1]))
	})

	When("a sealed value is copied onto another row", func() {
		It("fails to open there, without revealing it", func(ctx SpecContext) {
			instA, a := boundBinding(ctx, credentials)
			instB, b := boundBinding(ctx, `{"password":"b"}`)
			var own struct {
				Secret      []byte `db:"secret"`
				SecretKeyID string `db:"secret_key_id"`
			}
			Expect(st.DB().GetContext(ctx, &own, "SELECT secret, secret_key_id FROM bindings WHERE id = $1", b.ID)).To(Succeed())

			_, err := st.DB().ExecContext(ctx, `
UPDATE bindings
SET secret = src.secret, secret_key_id = src.secret_key_id
FROM bindings src
WHERE bindings.id = $1
    AND src.id = $2`, b.ID, a.ID)
			Expect(err).NotTo(HaveOccurred())

			_, err = st.GetBinding(ctx, instB.ID, b.ID)
			Expect(err).To(HaveOccurred())
			Expect(err).NotTo(MatchError(store.ErrNotFound))
			Expect(err.Error()).NotTo(ContainSubstring(a.Password))

			_, err = st.DB().ExecContext(ctx, `
UPDATE bindings
SET secret = $2, secret_key_id = $3
WHERE id = $1`, b.ID, own.Secret, own.SecretKeyID)
			Expect(err).NotTo(HaveOccurred())
			restored, err := st.GetBinding(ctx, instB.ID, b.ID)
			Expect(err).NotTo(HaveOccurred(), "with its own secret back, b opens again")
			Expect(restored.Password == b.Password).To(BeTrue(), "the stored password is the one generated")

			_, err = st.DB().ExecContext(ctx, `
UPDATE bindings
SET credentials = src.credentials
FROM bindings src
WHERE bindings.id = $1
    AND src.id = $2`, b.ID, a.ID)
			Expect(err).NotTo(HaveOccurred())
			_, err = st.GetBinding(ctx, instB.ID, b.ID)
			Expect(err).To(HaveOccurred(), "credentials sealed for another row must not open")
			Expect(err.Error()).NotTo(ContainSubstring("Cr3dPassw0rdValue"))

			got, err := st.GetBinding(ctx, instA.ID, a.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Credentials).To(MatchJSON(credentials))
		})
	})

	It("refuses to open a value sealed under a key it does not hold", func(ctx SpecContext) {
		inst, b := boundBinding(ctx, credentials)
		other := openWithKeys(ctx, newKey())

		_, err := other.GetBinding(ctx, inst.ID, b.ID)
		Expect(err).To(MatchError(ContainSubstring("not in the keyring")))
	})
})

var _ = Describe("Reseal", func() {
	It("moves every sealed value to the new current key, and the values still open", func(ctx SpecContext) {
		type sealed struct {
			inst store.Instance
			b    store.Binding
			cred string
		}
		var all []sealed
		for range 3 {
			cred := `{"password":"p-` + uuid.NewString() + `"}`
			inst, b := boundBinding(ctx, cred)
			all = append(all, sealed{inst, b, cred})
		}
		// One more that is not bound yet: only its secret is sealed.
		pending := readyInstance(ctx)
		pb := pendingBinding(ctx, pending)

		newCurrent := newKey()
		rotating := openWithKeys(ctx, newCurrent, currentKey)

		Expect(rotating.Reseal(ctx)).To(Equal(4))

		var ids []string
		Expect(st.DB().SelectContext(ctx, &ids, `
SELECT DISTINCT key_id
FROM (
    SELECT secret_key_id AS key_id FROM bindings
    UNION ALL
    SELECT credentials_key_id FROM bindings WHERE credentials_key_id IS NOT NULL
) k`)).To(Succeed())
		Expect(ids).To(Equal([]string{store.KeyID(newCurrent)}))

		after := openWithKeys(ctx, newCurrent)
		for _, s := range all {
			expectOpens(ctx, after, s.inst, s.b, s.cred)
		}
		expectOpens(ctx, after, pending, pb, "")

		Expect(rotating.Reseal(ctx)).To(Equal(0), "nothing is left under the old key")
	})

	When("a replica still sealing under the old key writes a value after Reseal listed the rows", func() {
		It("finds it on a later pass and leaves nothing under the old key", func(ctx SpecContext) {
			oldID := keys.CurrentKeyID()
			newCurrent := newKey()
			rotating := openWithKeys(ctx, newCurrent, currentKey)

			// late's values as the old replica sealed them are kept aside, and late is moved to
			// the new key, so that Reseal's first listing does not see it.
			lateInst, late := boundBinding(ctx, `{"password":"late"}`)
			_, err := st.DB().ExecContext(ctx, `
CREATE TABLE reseal_stash AS
SELECT id, secret, secret_key_id, credentials, credentials_key_id
FROM bindings
WITH NO DATA`)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func(ctx SpecContext) {
				Expect(st.DB().ExecContext(ctx, "DROP TABLE reseal_stash")).Error().NotTo(HaveOccurred())
			})
			Expect(st.DB().ExecContext(ctx, `
INSERT INTO reseal_stash (id, secret, secret_key_id, credentials, credentials_key_id)
SELECT id, secret, secret_key_id, credentials, credentials_key_id
FROM bindings
WHERE id = $1`, late.ID)).Error().NotTo(HaveOccurred())
			Expect(rotating.Reseal(ctx)).To(Equal(1))
			Expect(st.SealedUnder(ctx, oldID)).To(Equal(0))

			// early is under the old key when Reseal lists; re-sealing it writes late back
			// under the old key, in the same transaction, as the old replica would have.
			earlyInst, early := boundBinding(ctx, `{"password":"early"}`)
			onBindingUpdate(ctx, "reseal_race", "AFTER", "NEW.id = "+pq.QuoteLiteral(early.ID), `
BEGIN
    UPDATE bindings b
    SET secret = s.secret, secret_key_id = s.secret_key_id,
        credentials = s.credentials, credentials_key_id = s.credentials_key_id
    FROM reseal_stash s
    WHERE b.id = s.id;
    DELETE FROM reseal_stash;
    RETURN NULL;
END`)

			Expect(rotating.Reseal(ctx)).To(Equal(2), "early on the first pass, late on the second")

			var stashed int
			Expect(st.DB().GetContext(ctx, &stashed, "SELECT count(*) FROM reseal_stash")).To(Succeed())
			Expect(stashed).To(Equal(0), "late was written back under the old key during the first pass")
			Expect(st.SealedUnder(ctx, oldID)).To(Equal(0))
			Expect(st.SealedUnder(ctx, store.KeyID(newCurrent))).To(Equal(4))

			after := openWithKeys(ctx, newCurrent)
			expectOpens(ctx, after, lateInst, late, `{"password":"late"}`)
			expectOpens(ctx, after, earlyInst, early, `{"password":"early"}`)
		})
	})

	When("values keep arriving under the old key", func() {
		It("gives up after a bounded number of passes with an error that says what to do", func(ctx SpecContext) {
			_, b := boundBinding(ctx, `{"password":"x"}`)
			// Every re-seal of b is undone, as if a replica sealed it under the old key again at once.
			onBindingUpdate(ctx, "reseal_undo", "BEFORE", "true", `
BEGIN
    RETURN OLD;
END`)

			newCurrent := newKey()
			rotating := openWithKeys(ctx, newCurrent, currentKey)

			n, err := rotating.Reseal(ctx)
			Expect(err).To(MatchError(ContainSubstring("after 10 passes")))
			Expect(err).To(MatchError(ContainSubstring(store.KeyID(newCurrent))))
			Expect(err.Error()).NotTo(ContainSubstring(b.Password))
			Expect(n).To(Equal(10))
			Expect(st.SealedUnder(ctx, keys.CurrentKeyID())).To(Equal(2))
		})
	})

	It("stops with an error on a value no key in the ring opens, naming the binding", func(ctx SpecContext) {
		_, b := boundBinding(ctx, `{"password":"x"}`)
		other := openWithKeys(ctx, newKey())

		n, err := other.Reseal(ctx)
		Expect(err).To(MatchError(ContainSubstring(b.ID)))
		Expect(n).To(Equal(0))
		Expect(strings.Contains(err.Error(), b.Password)).To(BeFalse())
	})
})

var _ = Describe("SealedUnder", func() {
	It("counts a binding's secret and its credentials apart, each under the key that sealed it", func(ctx SpecContext) {
		oldID := keys.CurrentKeyID()
		Expect(st.SealedUnder(ctx, oldID)).To(Equal(0))

		boundBinding(ctx, `{"password":"x"}`)

		newCurrent := newKey()
		newID := store.KeyID(newCurrent)
		rotating := openWithKeys(ctx, newCurrent, currentKey)

		// Mid-rotation: the secret was sealed by a replica on the old key, the credentials by
		// one on the new key.
		mixedInst := readyInstance(ctx)
		mixed := newBinding(mixedInst.ID)
		bind := newOperation(store.OpBind, mixedInst.ID, mixed.ID)
		Expect(st.CreateBinding(ctx, mixed, bind)).To(Succeed())
		Expect(rotating.Succeed(ctx, claim(ctx, "w", bind.ID), []byte(`{"password":"m"}`))).To(Succeed())

		// Not bound yet: only its secret is sealed.
		pendingBinding(ctx, readyInstance(ctx))

		Expect(st.SealedUnder(ctx, oldID)).To(Equal(4))
		Expect(st.SealedUnder(ctx, newID)).To(Equal(1))
		Expect(st.SealedUnder(ctx, "00000000")).To(Equal(0))

		Expect(rotating.Reseal(ctx)).To(Equal(3))
		Expect(st.SealedUnder(ctx, oldID)).To(Equal(0), "the old key can be retired")
		Expect(st.SealedUnder(ctx, newID)).To(Equal(5))
	})

	It("needs no keyring", func(ctx SpecContext) {
		boundBinding(ctx, `{"password":"x"}`)
		keyless, err := store.Open(ctx, databaseURL, nil)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(keyless.Close)
		Expect(keyless.SealedUnder(ctx, keys.CurrentKeyID())).To(Equal(2))
	})
})

// expectOpens reads b through s and expects its generated password and credentials, none when
// credentials is "".
func expectOpens(ctx context.Context, s *store.Store, inst store.Instance, b store.Binding, credentials string) {
	got, err := s.GetBinding(ctx, inst.ID, b.ID)
	Expect(err).NotTo(HaveOccurred())
	Expect(got.Password == b.Password).To(BeTrue(), "the stored password is the one generated")
	if credentials == "" {
		Expect(got.Credentials).To(BeNil())
		return
	}
	Expect(got.Credentials).To(MatchJSON(credentials))
}
