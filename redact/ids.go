package redact

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
)

// IDKey masks identifiers: values a provider uses as a key (an order or
// payment id, a parent id, a merchant reference, an event id or dedupe
// key) that paystate stores, indexes and serves, and that may therefore
// not be altered the way free text is.
//
// An identifier that holds no PAN candidate is kept as it is. One that
// holds a candidate becomes its Text masking followed by '~' and 16
// letters (a to p) of HMAC-SHA256 under the key of the whole identifier:
// "4111111111111111" becomes "411111******1111~" and 16 letters. The
// masked part shows no more than the first six and last four digits; the
// keyed tag keeps two identifiers that mask alike apart (two order numbers
// with the same first six and last four digits must not become one
// aggregate), and the same identifier always gives the same result, so
// that events, lookups and dedupe keys keep matching. The tag reveals
// nothing of the middle digits to whoever lacks the key (PCI DSS 3.5.1.1:
// a keyed hash of the whole PAN). The result holds no candidate, so ID of
// an already masked identifier returns it unchanged.
type IDKey struct{ key []byte }

// NewIDKey returns an IDKey for key, which should hold at least 32 random
// bytes kept outside the database. A nil or empty key uses a random key of
// the running process: identifiers then match only until it exits.
func NewIDKey(key []byte) IDKey { return IDKey{key: key} }

var processKey = func() []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return b
}()

// ID returns the identifier s masked as described at IDKey.
func (k IDKey) ID(s string) string {
	m := Text(s)
	if m == s {
		return s
	}
	key := k.key
	if len(key) == 0 {
		key = processKey
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(s))
	sum := mac.Sum(nil)
	tag := make([]byte, 0, len(m)+1+16)
	tag = append(tag, m...)
	tag = append(tag, '~')
	for _, c := range sum[:8] {
		tag = append(tag, 'a'+c>>4, 'a'+c&0xf)
	}
	return string(tag)
}
