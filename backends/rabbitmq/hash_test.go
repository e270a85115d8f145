package rabbitmq_test

import (
	"crypto/sha256"
	"encoding/base64"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends/rabbitmq"
)

var _ = Describe("Password hash", func() {
	It("is base64 of a 4-byte salt and SHA-256 of salt and password, as rabbit_password_hashing_sha256 checks it", func() {
		h, err := rabbitmq.PasswordHash("Pa55word0123456789abcdefghijklmn")
		Expect(err).NotTo(HaveOccurred())
		raw, err := base64.StdEncoding.DecodeString(h)
		Expect(err).NotTo(HaveOccurred())
		Expect(raw).To(HaveLen(4 + sha256.Size))
		salt := raw[:4]
		want := sha256.Sum256(append(append([]byte{}, salt...), "Pa55word0123456789abcdefghijklmn"...))
		Expect(raw[4:]).To(Equal(want[:]))
		wrong := sha256.Sum256(append(append([]byte{}, salt...), "Pa55word0123456789abcdefghijklmX"...))
		Expect(raw[4:]).NotTo(Equal(wrong[:]))
	})

	It("salts every hash afresh", func() {
		a, err := rabbitmq.PasswordHash("same")
		Expect(err).NotTo(HaveOccurred())
		b, err := rabbitmq.PasswordHash("same")
		Expect(err).NotTo(HaveOccurred())
		Expect(a).NotTo(Equal(b))
	})

	It("refuses an empty password", func() {
		_, err := rabbitmq.PasswordHash("")
		Expect(err).To(HaveOccurred())
	})
})
