package sqlite

import (
	"bytes"
	"crypto/sha256"
	_ "embed" // the body dictionary
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/klauspost/compress/s2"

	"github.com/paystate/paystate/storage"
)

// How a journal row keeps its larger columns (migration 0007). A row
// written before it has layout 0: hashes as hex text, the redacted body
// and the payload as they are. Since:
//   - prev_hash, hash and body_sha256 (and receipts.body_sha256) hold the
//     32 bytes of a lowercase-hex SHA-256 as a BLOB, half the size of the
//     text; dedupe_key, when it ends in one (a provider's prefix and a
//     SHA-256, say), holds the prefix and the 32 bytes. A value that is
//     not of that form (a test's "sha-x", say) stays TEXT. Readers go by
//     each value's type, not by the layout, so a value copied or
//     rewritten as text by hand still reads back as that text;
//   - redacted_body is one tag byte and the body: bodyPlain, the body as
//     it is, or bodyS2, the body compressed as an S2 block with
//     bodyDictV1 (when that is shorter);
//   - layout 2 only: payload likewise, with payloadDictV1. Layout 1 rows
//     (written for a short while by one revision) keep a plain payload.
//
// None of this changes what an entry is: readers hand back the same
// strings and bytes, so storage.EntryHash, which covers the body and the
// payload themselves, hashes a row read back exactly as it did when it
// was written.
const (
	layoutV0 = 0
	layoutV1 = 1
	layoutV2 = 2

	bodyPlain = 0
	bodyS2    = 1
)

// bodyDictV1 is the dictionary of bodyS2 bodies: the providers'
// documented sample webhooks, redacted and compacted (see
// TestWriteBodyDictionary), serialized by s2.Dict.Bytes. payloadDictV1
// is the same followed by the names of the engine's payload fields. Every
// value stored with one needs exactly its bytes to decode, so the files
// are never changed: a better dictionary is a new tag.
//
//go:embed bodydict/v1.s2dict
var bodyDictV1 []byte

//go:embed bodydict/payload-v1.s2dict
var payloadDictV1 []byte

// The dictionaries' SHA-256s (TestBodyDictionaryIsFrozen).
const (
	bodyDictV1SHA256    = "1b56a176e3612ecb88726cb92e27f6bf63b68a2bf9cdbf1fe1073360ac2df827"
	payloadDictV1SHA256 = "551b17ed0cc2ace1fd48579c966390e0038cc48f8feb54db45b0b524c835d471"
)

// A packer encodes a column as a tag byte and the value, compressed with
// its dictionary when that is shorter.
type packer struct {
	what string
	dict *s2.Dict
}

func newPacker(what string, serialized []byte) packer {
	d := s2.NewDict(serialized)
	if d == nil {
		panic("sqlite: the embedded " + what + " dictionary does not load")
	}
	return packer{what, d}
}

var (
	bodies   = newPacker("body", bodyDictV1)
	payloads = newPacker("payload", payloadDictV1)
)

// encode is the stored value of b: NULL for an empty one.
func (p packer) encode(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if n := s2.MaxEncodedLen(len(b)); n > 0 {
		out := make([]byte, 1+n)
		out[0] = bodyS2
		// Encode writes into out[1:], which is large enough.
		if enc := p.dict.Encode(out[1:], b); len(enc) < len(b) {
			return out[:1+len(enc)]
		}
	}
	out := make([]byte, 1+len(b))
	out[0] = bodyPlain
	copy(out[1:], b)
	return out
}

func (p packer) decode(stored []byte) ([]byte, error) {
	if len(stored) == 0 {
		return nil, nil
	}
	switch stored[0] {
	case bodyPlain:
		return stored[1:], nil
	case bodyS2:
		n, err := s2.DecodedLen(stored[1:])
		if err != nil {
			return nil, fmt.Errorf("sqlite: journal %s: %w", p.what, err)
		}
		b, err := p.dict.Decode(make([]byte, n), stored[1:])
		if err != nil {
			return nil, fmt.Errorf("sqlite: journal %s: %w", p.what, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("sqlite: journal %s: unknown encoding %d", p.what, stored[0])
}

func checkLayout(layout int64) error {
	if layout < layoutV0 || layout > layoutV2 {
		return fmt.Errorf("sqlite: journal row layout %d is newer than this binary", layout)
	}
	return nil
}

// decodeBody reads redacted_body as written in layout.
func decodeBody(layout int64, stored []byte) ([]byte, error) {
	if err := checkLayout(layout); err != nil {
		return nil, err
	}
	if layout == layoutV0 {
		return stored, nil
	}
	return bodies.decode(stored)
}

// decodePayload reads payload as written in layout.
func decodePayload(layout int64, stored []byte) ([]byte, error) {
	if err := checkLayout(layout); err != nil {
		return nil, err
	}
	if layout < layoutV2 {
		return stored, nil
	}
	return payloads.decode(stored)
}

func encodeBody(b []byte) []byte    { return bodies.encode(b) }
func encodePayload(b []byte) []byte { return payloads.encode(b) }

// The formats of the values Store.EncodeBody and EncodePayload make: the
// current layout's redacted_body and payload.
const (
	bodyFormat    = "sqlite.layout2.redacted_body"
	payloadFormat = "sqlite.layout2.payload"
)

var _ storage.Encoder = (*Store)(nil)

// EncodeBody is redacted_body for body, in the current layout, made
// before the transaction so that the compression does not run on the
// writer (storage.Encoder).
func (s *Store) EncodeBody(body []byte) *storage.Encoded {
	return &storage.Encoded{Format: bodyFormat, Of: body, Stored: encodeBody(body)}
}

// EncodePayload is the payload column for payload, as EncodeBody.
func (s *Store) EncodePayload(payload []byte) *storage.Encoded {
	return &storage.Encoded{Format: payloadFormat, Of: payload, Stored: encodePayload(payload)}
}

// storedBody and storedPayload are the columns of e: what its Encoder
// made beforehand when that encodes exactly the field, in this layout,
// and the field encoded now otherwise.
func storedBody(e *storage.JournalEntry) []byte {
	return stored(e.EncodedBody, bodyFormat, e.RedactedBody, encodeBody)
}

func storedPayload(e *storage.JournalEntry) []byte {
	return stored(e.EncodedPayload, payloadFormat, e.Payload, encodePayload)
}

func stored(pre *storage.Encoded, format string, value []byte, encode func([]byte) []byte) []byte {
	if pre != nil && pre.Format == format && bytes.Equal(pre.Of, value) {
		return pre.Stored
	}
	return encode(value)
}

// EncodeBody and EncodePayload are storage/sqlite's redacted_body and
// payload in the current journal layout (JournalLayout), for a loader
// that writes rows itself.
func EncodeBody(body []byte) []byte       { return encodeBody(body) }
func EncodePayload(payload []byte) []byte { return encodePayload(payload) }

// JournalLayout is the layout column of the journal rows this binary
// writes.
const JournalLayout = layoutV2

// hashValue is the value of a column that may end in a SHA-256 (hashes,
// dedupe keys): a text that ends in 64 lowercase hex digits as the text
// before them followed by their 32 bytes, a BLOB; anything else as the
// text it is.
func hashValue(s string) any {
	const hexLen = 2 * sha256.Size
	if len(s) < hexLen {
		return s
	}
	prefix := len(s) - hexLen
	b := make([]byte, prefix+sha256.Size)
	copy(b, s[:prefix])
	for i, j := prefix, prefix; j < len(s); i, j = i+1, j+2 {
		hi, lo := lowerHex[s[j]], lowerHex[s[j+1]]
		if hi|lo > 0x0f {
			return s
		}
		b[i] = hi<<4 | lo
	}
	return b
}

// lowerHex is the value of each lowercase hex digit, 0xff for any other
// byte.
var lowerHex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c - '0'
	}
	for c := byte('a'); c <= 'f'; c++ {
		t[c] = c - 'a' + 10
	}
	return t
}()

// HashValue is hashValue for a loader that writes rows itself.
func HashValue(s string) any { return hashValue(s) }

// hashText scans a column written by hashValue, or by anyone as text: a
// BLOB reads back as the text before its last 32 bytes and those in
// lowercase hex, TEXT as it is.
type hashText struct{ s *string }

func (h hashText) Scan(v any) error {
	switch v := v.(type) {
	case []byte:
		if len(v) < sha256.Size {
			*h.s = hex.EncodeToString(v)
			return nil
		}
		prefix := len(v) - sha256.Size
		*h.s = string(v[:prefix]) + hex.EncodeToString(v[prefix:])
	case string:
		*h.s = v
	case nil:
		*h.s = ""
	default:
		return errors.New("sqlite: a hash column holds neither text nor bytes")
	}
	return nil
}
