package sqlite

import (
	"crypto/sha256"
	_ "embed" // the body dictionary
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/klauspost/compress/s2"
)

// How a journal row keeps its larger columns (migration 0007). A row
// written before it has layout 0: hashes as hex text, the redacted body as
// received. A row written since has layout 1:
//   - prev_hash, hash and body_sha256 (and receipts.body_sha256) hold the
//     32 bytes of a lowercase-hex SHA-256 as a BLOB, half the size of the
//     text. A value that is not one (a test's "sha-x", say) stays TEXT.
//     Readers go by the value's type, not by the layout, so a hash copied
//     or rewritten as text by hand still reads back as that text;
//   - redacted_body is one tag byte and the body: bodyPlain, the body as
//     it is, or bodyS2, the body compressed as an S2 block with the
//     dictionary below (when that is shorter).
//
// None of this changes what an entry is: readers hand back the same
// strings and bytes, so storage.EntryHash, which covers the body itself,
// hashes a row read back exactly as it did when it was written.
const (
	layoutV0 = 0
	layoutV1 = 1

	bodyPlain = 0
	bodyS2    = 1
)

// bodyDictV1 is the dictionary of bodyS2: the providers' documented
// sample webhooks, redacted and compacted (see TestWriteBodyDictionary),
// serialized by s2.Dict.Bytes. Every stored bodyS2 body needs exactly
// these bytes to decode, so the file is never changed: a better
// dictionary is a new tag.
//
//go:embed bodydict/v1.s2dict
var bodyDictV1 []byte

// bodyDictV1SHA256 pins bodyDictV1 (TestBodyDictionaryIsFrozen).
const bodyDictV1SHA256 = "1b56a176e3612ecb88726cb92e27f6bf63b68a2bf9cdbf1fe1073360ac2df827"

var bodyDict = func() *s2.Dict {
	d := s2.NewDict(bodyDictV1)
	if d == nil {
		panic("sqlite: the embedded body dictionary does not load")
	}
	return d
}()

// encodeBody is redacted_body in layout 1: NULL for an empty body.
func encodeBody(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if n := s2.MaxEncodedLen(len(b)); n > 0 {
		out := make([]byte, 1+n)
		out[0] = bodyS2
		// Encode writes into out[1:], which is large enough.
		if enc := bodyDict.Encode(out[1:], b); len(enc) < len(b) {
			return out[:1+len(enc)]
		}
	}
	out := make([]byte, 1+len(b))
	out[0] = bodyPlain
	copy(out[1:], b)
	return out
}

// decodeBody reads redacted_body as written in layout.
func decodeBody(layout int64, stored []byte) ([]byte, error) {
	if len(stored) == 0 {
		return nil, nil
	}
	switch layout {
	case layoutV0:
		return stored, nil
	case layoutV1:
	default:
		return nil, fmt.Errorf("sqlite: journal row layout %d is newer than this binary", layout)
	}
	switch stored[0] {
	case bodyPlain:
		return stored[1:], nil
	case bodyS2:
		n, err := s2.DecodedLen(stored[1:])
		if err != nil {
			return nil, fmt.Errorf("sqlite: journal body: %w", err)
		}
		b, err := bodyDict.Decode(make([]byte, n), stored[1:])
		if err != nil {
			return nil, fmt.Errorf("sqlite: journal body: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("sqlite: journal body: unknown encoding %d", stored[0])
}

// EncodeBody is storage/sqlite's redacted_body for body in the current
// journal layout (JournalLayout), for a loader that writes rows itself.
func EncodeBody(body []byte) []byte { return encodeBody(body) }

// JournalLayout is the layout column of the journal rows this binary
// writes.
const JournalLayout = layoutV1

// hashValue is a hash column's value: the 32 bytes of a lowercase-hex
// SHA-256, anything else as the text it is.
func hashValue(s string) any {
	if len(s) != 2*sha256.Size {
		return s
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return s
		}
	}
	b := make([]byte, sha256.Size)
	if _, err := hex.Decode(b, []byte(s)); err != nil {
		return s
	}
	return b
}

// HashValue is hashValue for a loader that writes rows itself.
func HashValue(s string) any { return hashValue(s) }

// hashText scans a hash column written by hashValue, or by anyone as
// text: a BLOB reads back as lowercase hex, TEXT as it is.
type hashText struct{ s *string }

func (h hashText) Scan(v any) error {
	switch v := v.(type) {
	case []byte:
		*h.s = hex.EncodeToString(v)
	case string:
		*h.s = v
	case nil:
		*h.s = ""
	default:
		return errors.New("sqlite: a hash column holds neither text nor bytes")
	}
	return nil
}
