package backends

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"math/big"
	"strings"
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

// UserName is the login of binding b of instance instanceID on the backends whose logins
// live beside those of other instances (mysql, redis, rabbitmq): "ob_" and 26 base32
// characters (130 bits) of a SHA-256 of both ids, 29 characters in all, within MySQL's 32.
// Deprovision never looks a login up by the instance's part of this name: the broker hands it
// every binding it recorded, and it removes exactly their logins. ListObjects, for the
// operator's search for orphans, lists the logins by the broker's naming (the "ob_" prefix
// and the shape IsUserName checks), whatever instance they were made for, and RemoveObject
// removes one only by its whole name. A binding recorded before these names (b.LegacyName)
// keeps the login it was made with, legacyUserName.
func UserName(instanceID string, b Binding) string {
	if b.LegacyName {
		return legacyUserName(instanceID, b.ID)
	}
	return "ob_" + loginHash(instanceID, b.ID)
}

// loginHash is 26 lower-case base32 characters of a SHA-256 of the ids: 130 bits, letters and
// digits only, so the name needs no quoting on any backend.
func loginHash(ids ...string) string {
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	return strings.ToLower(base32.StdEncoding.EncodeToString(h.Sum(nil)))[:26]
}

// legacyUserName is the login name of the bindings made before UserName carried 130 bits:
// "ob_", 12 hex characters of the instance's id, "_" and 12 hex characters of both ids, 28
// characters in all. Deprovision once found these logins by their 48-bit instance part, which
// an instance id chosen to collide could share; now only the exact name of a recorded binding
// is ever removed.
func legacyUserName(instanceID, bindingID string) string {
	return "ob_" + Name("", instanceID)[:12] + "_" + Name("", instanceID, bindingID)[:12]
}
