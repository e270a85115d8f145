package postgres_test

import (
	"encoding/base64"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/xdg-go/scram"

	"github.com/omnibroker/omnibroker/backends/postgres"
)

// parseVerifier reads SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>.
func parseVerifier(v string) scram.StoredCredentials {
	rest, ok := strings.CutPrefix(v, "SCRAM-SHA-256$")
	Expect(ok).To(BeTrue())
	params, keys, ok := strings.Cut(rest, "$")
	Expect(ok).To(BeTrue())
	iter, salt, ok := strings.Cut(params, ":")
	Expect(ok).To(BeTrue())
	stored, server, ok := strings.Cut(keys, ":")
	Expect(ok).To(BeTrue())
	decode := func(s string) []byte {
		b, err := base64.StdEncoding.DecodeString(s)
		Expect(err).NotTo(HaveOccurred())
		return b
	}
	n, err := strconv.Atoi(iter)
	Expect(err).NotTo(HaveOccurred())
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(decode(salt)), Iters: n},
		StoredKey:  decode(stored),
		ServerKey:  decode(server),
	}
}

var _ = Describe("SCRAM verifier", func() {
	It("lets a SCRAM-SHA-256 client that knows the password log in, and no one else", func() {
		v, err := postgres.ScramVerifier("Pa55word0123456789abcdefghijklmn")
		Expect(err).NotTo(HaveOccurred())
		stored := parseVerifier(v)
		Expect(stored.Iters).To(Equal(4096))
		Expect(stored.Salt).To(HaveLen(16))

		login := func(password string) bool {
			server, err := scram.SHA256.NewServer(func(string) (scram.StoredCredentials, error) { return stored, nil })
			Expect(err).NotTo(HaveOccurred())
			client, err := scram.SHA256.NewClient("app", password, "")
			Expect(err).NotTo(HaveOccurred())
			sc, cc := server.NewConversation(), client.NewConversation()
			msg, err := cc.Step("")
			for err == nil && !cc.Done() {
				if msg, err = sc.Step(msg); err == nil {
					msg, err = cc.Step(msg)
				}
			}
			return err == nil && sc.Valid() && cc.Valid()
		}
		Expect(login("Pa55word0123456789abcdefghijklmn")).To(BeTrue())
		Expect(login("Pa55word0123456789abcdefghijklmX")).To(BeFalse())
	})

	It("salts every verifier afresh", func() {
		a, err := postgres.ScramVerifier("same")
		Expect(err).NotTo(HaveOccurred())
		b, err := postgres.ScramVerifier("same")
		Expect(err).NotTo(HaveOccurred())
		Expect(a).NotTo(Equal(b))
	})

	It("refuses passwords PostgreSQL would SASLprep differently or that are empty", func() {
		_, err := postgres.ScramVerifier("")
		Expect(err).To(HaveOccurred())
		_, err = postgres.ScramVerifier("pässword")
		Expect(err).To(HaveOccurred())
	})
})
