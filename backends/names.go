package backends

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
)

// Name derives a backend object name from ids: prefix plus 24 hex characters of a SHA-256 of
// the ids, so names stay short (PostgreSQL cuts at 63 bytes), collision-free in practice and
// free of anything a platform could inject.
func Name(prefix string, ids ...string) string {
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	return prefix + hex.EncodeToString(h.Sum(nil))[:24]
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewPassword returns 32 base62 characters from crypto/rand.
func NewPassword() (string, error) {
	out := make([]byte, 32)
	max := big.NewInt(int64(len(base62)))
	for i := range out {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		out[i] = base62[n.Int64()]
	}
	return string(out), nil
}

// UserPrefix starts the name of every login a backend makes for the bindings of instance
// instanceID, so that deprovisioning finds them all in the node's list of users, those a bind
// cut short left without privileges included.
func UserPrefix(instanceID string) string {
	return "ob_" + Name("", instanceID)[:12] + "_"
}

// UserName is the login of binding bindingID of instance instanceID: UserPrefix and 12 hex
// characters of both ids, 28 characters in all.
func UserName(instanceID, bindingID string) string {
	return UserPrefix(instanceID) + Name("", instanceID, bindingID)[:12]
}
