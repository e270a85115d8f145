package mysql

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strings"
)

// nativePasswordHash is what MariaDB stores for password under mysql_native_password:
// "*" and the upper-case hex of SHA1(SHA1(password)). Bind sends this hash instead of the
// password, so the password stays out of the server's query logs, binary log and process list.
func nativePasswordHash(password string) string {
	first := sha1.Sum([]byte(password))
	second := sha1.Sum(first[:])
	return "*" + strings.ToUpper(hex.EncodeToString(second[:]))
}

// checkPassword accepts what backends.NewPassword makes: base62 characters. Anything else did
// not come from the broker; the check keeps a mistake from reaching an account.
func checkPassword(password string) error {
	if password == "" {
		return errors.New("password is empty")
	}
	for _, r := range password {
		if (r < '0' || r > '9') && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') {
			return errors.New("password has a character other than a letter or a digit")
		}
	}
	return nil
}
