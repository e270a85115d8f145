package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// KeySize is the length in bytes of every key in a Keyring (AES-256).
const KeySize = 32

// Keyring holds the keys that seal credentials at rest: the current key, which seals every
// new value, and old keys, which only open values sealed before a rotation. Each key is known
// by its id, the first 8 hex characters of its SHA-256, which is stored beside every sealed
// value so opening never has to try every key.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
	sums    map[string][sha256.Size]byte
}

// NewKeyring returns a Keyring that seals with current and opens values sealed with current
// or any of old. Every key must be exactly KeySize (32) bytes.
func NewKeyring(current []byte, old ...[]byte) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}, sums: map[string][sha256.Size]byte{}}
	id, err := k.add(current)
	if err != nil {
		return nil, fmt.Errorf("current key: %w", err)
	}
	k.current = id
	for i, key := range old {
		if _, err := k.add(key); err != nil {
			return nil, fmt.Errorf("old key %d: %w", i+1, err)
		}
	}
	return k, nil
}

// ParseKeyring is NewKeyring for keys given as standard base64 strings, as they come from
// the environment. Empty strings in old are skipped, so a trailing comma in a list does no harm.
func ParseKeyring(current string, old []string) (*Keyring, error) {
	cur, err := base64.StdEncoding.DecodeString(current)
	if err != nil {
		return nil, fmt.Errorf("current key is not standard base64: %w", err)
	}
	var olds [][]byte
	for i, s := range old {
		if s == "" {
			continue
		}
		key, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("old key %d is not standard base64: %w", i+1, err)
		}
		olds = append(olds, key)
	}
	return NewKeyring(cur, olds...)
}

// KeyID returns the id under which key is known: the first 8 hex characters of its SHA-256.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// CurrentKeyID returns the id of the key that seals new values.
func (k *Keyring) CurrentKeyID() string { return k.current }

func (k *Keyring) add(key []byte) (string, error) {
	if len(key) != KeySize {
		return "", fmt.Errorf("key is %d bytes; AES-256 needs exactly %d", len(key), KeySize)
	}
	id := KeyID(key)
	if sum, ok := k.sums[id]; ok {
		if sum != sha256.Sum256(key) {
			return "", fmt.Errorf("key id %s is already taken by another key; generate a new key", id)
		}
		return id, nil // the same key given twice
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("new cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return "", fmt.Errorf("new gcm: %w", err)
	}
	k.aeads[id] = aead
	k.sums[id] = sha256.Sum256(key)
	return id, nil
}

// seal encrypts plaintext under the current key, binding it to where (row and column) as
// additional data. It returns the nonce followed by the ciphertext, and the key id.
func (k *Keyring) seal(plaintext []byte, where string) ([]byte, string, error) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, "", fmt.Errorf("seal %s: nonce: %w", where, err)
	}
	return aead.Seal(nonce, nonce, plaintext, []byte(where)), k.current, nil
}

// open decrypts a value sealed by seal for the same where under the key keyID.
func (k *Keyring) open(sealed []byte, keyID, where string) ([]byte, error) {
	aead, ok := k.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("open %s: sealed under key %s, which is not in the keyring", where, keyID)
	}
	if len(sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("open %s: sealed value is too short", where)
	}
	nonce, ciphertext := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	plaintext, err := aead.Open(nil, nonce, ciphertext, []byte(where))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", where, err)
	}
	return plaintext, nil
}

func secretAD(bindingID string) string      { return "bindings/" + bindingID + "/secret" }
func credentialsAD(bindingID string) string { return "bindings/" + bindingID + "/credentials" }

var errNoKeyring = errors.New("the store was opened without a keyring")

func (s *Store) keyring() (*Keyring, error) {
	if s.keys == nil {
		return nil, errNoKeyring
	}
	return s.keys, nil
}

const listBindingsToReseal = `
SELECT id
FROM bindings
WHERE secret_key_id <> $1
    OR credentials_key_id <> $1
ORDER BY id`

const lockSealedBinding = `
SELECT secret, secret_key_id, credentials, COALESCE(credentials_key_id, '') AS credentials_key_id
FROM bindings
WHERE id = $1
FOR UPDATE`

const updateSealedBinding = `
UPDATE bindings
SET secret = $2, secret_key_id = $3, credentials = $4, credentials_key_id = NULLIF($5, '')
WHERE id = $1`

type sealedBinding struct {
	SealedSecret      []byte `db:"secret"`
	SecretKeyID       string `db:"secret_key_id"`
	SealedCredentials []byte `db:"credentials"`
	CredentialsKeyID  string `db:"credentials_key_id"`
}

// resealPasses bounds how many times Reseal lists what is left: enough to catch what replicas
// sealed under their old current key during a rolling restart, few enough that Reseal ends
// while one of them is still sealing under it.
const resealPasses = 10

// Reseal re-seals under the current key every sealed value that is under another key, online:
// row by row, each in its own short transaction that locks only that row. A replica still
// running with an old current key may seal new values under it meanwhile, so Reseal lists and
// re-seals again until a pass finds nothing left under another key, and returns an error if
// values are still left after resealPasses passes. It returns how many bindings rows it
// changed. Run it once every replica seals under the new current key; SealedUnder then tells
// whether an old key can be retired.
func (s *Store) Reseal(ctx context.Context) (int, error) {
	keys, err := s.keyring()
	if err != nil {
		return 0, fmt.Errorf("reseal: %w", err)
	}
	n := 0
	for range resealPasses {
		var ids []string
		if err := s.db.SelectContext(ctx, &ids, listBindingsToReseal, keys.current); err != nil {
			return n, fmt.Errorf("reseal: list bindings: %w", err)
		}
		if len(ids) == 0 {
			return n, nil
		}
		for _, id := range ids {
			changed, err := s.resealBinding(ctx, keys, id)
			if err != nil {
				return n, fmt.Errorf("reseal binding %s: %w", id, err)
			}
			if changed {
				n++
			}
		}
	}
	return n, fmt.Errorf("reseal: values are still being sealed under keys other than %s after %d passes; "+
		"make %s the current key of every replica, then run it again", keys.current, resealPasses, keys.current)
}

const countSealedUnder = `
SELECT count(*) FILTER (WHERE secret_key_id = $1)
    + count(*) FILTER (WHERE credentials_key_id = $1)
FROM bindings
WHERE secret_key_id = $1
    OR credentials_key_id = $1`

// SealedUnder returns how many sealed values (a binding's secret and its credentials count
// apart) are under the key keyID. 0 means no stored value needs that key any more, so it can
// be retired once no replica has it as its current key. It needs no keyring.
func (s *Store) SealedUnder(ctx context.Context, keyID string) (int, error) {
	var n int
	if err := s.db.GetContext(ctx, &n, countSealedUnder, keyID); err != nil {
		return 0, fmt.Errorf("count values sealed under key %s: %w", keyID, err)
	}
	return n, nil
}

func (s *Store) resealBinding(ctx context.Context, keys *Keyring, id string) (bool, error) {
	changed := false
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var row sealedBinding
		err := tx.GetContext(ctx, &row, lockSealedBinding, id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // deleted since it was listed
		}
		if err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if row.SecretKeyID != keys.current {
			if row.SealedSecret, row.SecretKeyID, err = reseal(keys, row.SealedSecret, row.SecretKeyID, secretAD(id)); err != nil {
				return err
			}
			changed = true
		}
		if row.SealedCredentials != nil && row.CredentialsKeyID != keys.current {
			if row.SealedCredentials, row.CredentialsKeyID, err = reseal(keys, row.SealedCredentials, row.CredentialsKeyID, credentialsAD(id)); err != nil {
				return err
			}
			changed = true
		}
		if !changed {
			return nil
		}
		if _, err := tx.ExecContext(ctx, updateSealedBinding, id, row.SealedSecret, row.SecretKeyID, row.SealedCredentials, row.CredentialsKeyID); err != nil {
			return fmt.Errorf("update: %w", err)
		}
		return nil
	})
	return changed, err
}

func reseal(keys *Keyring, sealed []byte, keyID, where string) ([]byte, string, error) {
	plaintext, err := keys.open(sealed, keyID, where)
	if err != nil {
		return nil, "", err
	}
	return keys.seal(plaintext, where)
}
