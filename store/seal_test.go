package store_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/google/uuid"
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
		Expect(got.Password).To(Equal(b.Password))
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
SET secret = src.secret, secret_key_id = src.secret_key_id
FROM bindings src
WHERE bindings.id = $1
    AND src.id = $1`, b.ID)
			Expect(err).NotTo(HaveOccurred())
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
		stranger, err := store.NewKeyring(newKey())
		Expect(err).NotTo(HaveOccurred())
		other, err := store.Open(ctx, databaseURL, stranger)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(other.Close)

		_, err = other.GetBinding(ctx, inst.ID, b.ID)
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
		pb := newBinding(pending.ID)
		Expect(st.CreateBinding(ctx, pb, newOperation(store.OpBind, pending.ID, pb.ID))).To(Succeed())

		newCurrent := newKey()
		rotated, err := store.NewKeyring(newCurrent, currentKey)
		Expect(err).NotTo(HaveOccurred())
		rotating, err := store.Open(ctx, databaseURL, rotated)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(rotating.Close)

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

		onlyNew, err := store.NewKeyring(newCurrent)
		Expect(err).NotTo(HaveOccurred())
		after, err := store.Open(ctx, databaseURL, onlyNew)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(after.Close)
		for _, s := range all {
			got, err := after.GetBinding(ctx, s.inst.ID, s.b.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Password).To(Equal(s.b.Password))
			Expect(got.Credentials).To(MatchJSON(s.cred))
		}
		got, err := after.GetBinding(ctx, pending.ID, pb.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Password).To(Equal(pb.Password))
		Expect(got.Credentials).To(BeNil())

		Expect(rotating.Reseal(ctx)).To(Equal(0), "nothing is left under the old key")
	})

	It("stops with an error on a value no key in the ring opens, naming the binding", func(ctx SpecContext) {
		_, b := boundBinding(ctx, `{"password":"x"}`)
		stranger, err := store.NewKeyring(newKey())
		Expect(err).NotTo(HaveOccurred())
		other, err := store.Open(ctx, databaseURL, stranger)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(other.Close)

		n, err := other.Reseal(ctx)
		Expect(err).To(MatchError(ContainSubstring(b.ID)))
		Expect(n).To(Equal(0))
		Expect(strings.Contains(err.Error(), b.Password)).To(BeFalse())
	})
})
