package rabbitmq

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"

	rabbithole "github.com/michaelklishin/rabbit-hole/v3"
)

// hashAlgorithm is the algorithm passwordHash computes, sent along with the hash so that the
// node checks logins with it whatever its configured default.
const hashAlgorithm = rabbithole.HashingAlgorithmSHA256

// passwordHash returns what RabbitMQ stores for password under rabbit_password_hashing_sha256:
// base64 of a 4-byte random salt followed by SHA-256(salt ‖ password). Sending this instead of
// the password keeps the plaintext off the wire and out of the node's logs and definitions.
func passwordHash(password string) (string, error) {
	if password == "" {
		return "", errors.New("the password is empty")
	}
	salt := make([]byte, 4)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum := sha256.Sum256(append(salt, password...))
	return base64.StdEncoding.EncodeToString(append(salt, sum[:]...)), nil
}
