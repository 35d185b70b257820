package generic

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/providers"
)

const (
	testSecret  = "whsec_primary_5f0c9a17e2"
	testRotated = "whsec_rotated_77ab21c4d0"
)

// refMAC computes the expected signature with the standard library alone,
// independently of Sign.
func refMAC(h func() hash.Hash, secret string, body []byte) []byte {
	m := hmac.New(h, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

func sigHeader(v string) http.Header {
	h := http.Header{}
	h.Set("X-Signature", v)
	return h
}

// TestSignKnownAnswer pins Sign to a published HMAC vector (RFC 4231 test
// case 2: key "Jefe", data "what do ya want for nothing?").
func TestSignKnownAnswer(t *testing.T) {
	t.Parallel()
	body := []byte("what do ya want for nothing?")
	got, err := Sign("Jefe", body, "", "")
	require.NoError(t, err)
	require.Equal(t, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", got)
	got, err = Sign("Jefe", body, "sha512", "hex")
	require.NoError(t, err)
	require.Equal(t, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737", got)
}

func TestSignErrors(t *testing.T) {
	t.Parallel()
	_, err := Sign("", []byte("x"), "", "")
	require.Error(t, err)
	_, err = Sign("s", []byte("x"), "md5", "")
	require.Error(t, err)
	_, err = Sign("s", []byte("x"), "", "base32")
	require.Error(t, err)
}

// TestAuthenticateAlgorithmsAndEncodings: a valid signature authenticates
// for each algorithm × encoding, bare and with its prefix, and the
// signature Sign computes equals the standard library's HMAC.
func TestAuthenticateAlgorithmsAndEncodings(t *testing.T) {
	t.Parallel()
	body := readFixture(t, "event_payment.completed.json")
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	algs := []struct {
		name string
		h    func() hash.Hash
	}{{"sha256", sha256.New}, {"sha512", sha512.New}, {"sha1", sha1.New}, {"", sha256.New}, {"SHA256", sha256.New}}
	encs := []struct {
		name string
		enc  func([]byte) string
	}{{"hex", hex.EncodeToString}, {"base64", base64.StdEncoding.EncodeToString}, {"", hex.EncodeToString}, {"Base64", base64.StdEncoding.EncodeToString}}
	for _, a := range algs {
		for _, e := range encs {
			t.Run(a.name+"/"+e.name, func(t *testing.T) {
				t.Parallel()
				want := e.enc(refMAC(a.h, testSecret, body))
				sig, err := Sign(testSecret, body, a.name, e.name)
				require.NoError(t, err)
				require.Equal(t, want, sig)

				p := New(Config{Secrets: []string{testSecret}, Algorithm: a.name, Encoding: e.name})
				require.NoError(t, p.Authenticate(sigHeader(sig), body, now))
				prefix := strings.ToLower(a.name)
				if prefix == "" {
					prefix = "sha256"
				}
				require.NoError(t, p.Authenticate(sigHeader(prefix+"="+sig), body, now), "with prefix")
				require.NoError(t, p.Authenticate(sigHeader(strings.ToUpper(prefix)+"="+sig), body, now), "upper-case prefix")
				require.NoError(t, p.Authenticate(sigHeader(" "+sig+" "), body, now), "surrounding space")
			})
		}
	}
}

func TestAuthenticateVectors(t *testing.T) {
	t.Parallel()
	body := readFixture(t, "event_refund.completed.json")
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	sign := func(secret, alg, enc string, b []byte) string {
		s, err := Sign(secret, b, alg, enc)
		require.NoError(t, err)
		return s
	}
	valid := sign(testSecret, "", "", body)
	rotated := sign(testRotated, "", "", body)
	validB64 := sign(testSecret, "", "base64", body)
	mac := refMAC(sha256.New, testSecret, body)

	flipped := append([]byte(nil), body...)
	flipped[len(flipped)/2] ^= 0x01
	sigFlipped := []byte(valid)
	if sigFlipped[0] == 'a' {
		sigFlipped[0] = 'b'
	} else {
		sigFlipped[0] = 'a'
	}
	// 32 bytes are 43 base64 characters and a pad: the last character
	// carries 2 unused bits. Setting one gives another spelling that a
	// lenient decoder reads as the same signature.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	nonStrict := []byte(validB64)
	nonStrict[42] = alphabet[strings.IndexByte(alphabet, nonStrict[42])|1]
	lenient, err := base64.StdEncoding.DecodeString(string(nonStrict))
	require.NoError(t, err)
	require.Equal(t, mac, lenient, "the vector must be one a lenient decoder accepts")

	both := Config{Secrets: []string{testSecret, testRotated}}
	b64 := Config{Secrets: []string{testSecret}, Encoding: "base64"}
	cases := []struct {
		name   string
		cfg    Config
		header providers.Headers
		body   []byte
		want   error // nil: authenticated
	}{
		{"valid", both, sigHeader(valid), body, nil},
		{"valid with prefix", both, sigHeader("sha256=" + valid), body, nil},
		{"valid upper-case hex", both, sigHeader(strings.ToUpper(valid)), body, nil},
		{"rotation: old secret", both, sigHeader(valid), body, nil},
		{"rotation: new secret", both, sigHeader(rotated), body, nil},
		{"rotation: new secret only after the old one is removed", Config{Secrets: []string{testRotated}}, sigHeader(valid), body, errMismatch},
		{"empty configured secret ignored", Config{Secrets: []string{"", testSecret}}, sigHeader(valid), body, nil},
		{"one flipped byte of the body", both, sigHeader(valid), flipped, errMismatch},
		{"body with a trailing newline", both, sigHeader(valid), append(append([]byte(nil), body...), '\n'), errMismatch},
		{"empty body", both, sigHeader(valid), nil, errMismatch},
		{"one changed character of the signature", both, sigHeader(string(sigFlipped)), body, errMismatch},
		{"wrong secret", Config{Secrets: []string{"whsec_someone_else"}}, sigHeader(valid), body, errMismatch},
		{"signed with a different algorithm", Config{Secrets: []string{testSecret}, Algorithm: "sha512"}, sigHeader(sign(testSecret, "sha1", "", body)), body, errLength},
		{"missing header", both, http.Header{}, body, errMissingHeader},
		{"nil headers", both, nil, body, errMissingHeader},
		{"empty header", both, http.Header{"X-Signature": {""}}, body, errMissingHeader},
		{"blank header", both, sigHeader("   "), body, errMissingHeader},
		{"signature in another header", both, http.Header{"X-Signature-256": {valid}}, body, errMissingHeader},
		{"non-hex", both, sigHeader(strings.Repeat("zz", 32)), body, errEncoding},
		{"odd-length hex", both, sigHeader(valid[:63]), body, errEncoding},
		{"base64 where hex is configured", both, sigHeader(validB64), body, errEncoding},
		{"truncated hex", both, sigHeader(valid[:62]), body, errLength},
		{"too long hex", both, sigHeader(valid + "00"), body, errLength},
		{"hex of a SHA-512 length", both, sigHeader(valid + valid), body, errLength},
		{"prefix names another algorithm", both, sigHeader("sha512=" + valid), body, errPrefixMismatch},
		{"prefix names sha1", both, sigHeader("sha1=" + valid), body, errPrefixMismatch},
		{"prefix names an unknown algorithm", both, sigHeader("md5=" + valid), body, errUnknownPrefix},
		{"scheme-style prefix", both, sigHeader("v1=" + valid), body, errUnknownPrefix},
		{"empty prefix", both, sigHeader("=" + valid), body, errEncoding},
		{"several signatures", both, sigHeader(valid + "," + rotated), body, errEncoding},
		{"base64 valid", b64, sigHeader(validB64), body, nil},
		{"base64 with prefix", b64, sigHeader("sha256=" + validB64), body, nil},
		{"base64 unpadded", b64, sigHeader(strings.TrimRight(validB64, "=")), body, nil},
		{"base64 URL alphabet", b64, sigHeader(base64.RawURLEncoding.EncodeToString(mac)), body, nil},
		{"base64 non-zero trailing bits", b64, sigHeader(string(nonStrict)), body, errEncoding},
		{"non-base64", b64, sigHeader("!!" + validB64[2:]), body, errEncoding},
		{"base64 with a line break", b64, sigHeader(validB64[:20] + "\n" + validB64[20:]), body, errEncoding},
		{"hex where base64 is configured", b64, sigHeader(valid), body, errLength},
		{"truncated base64", b64, sigHeader(base64.StdEncoding.EncodeToString(mac[:31])), body, errLength},
		{"base64 wrong secret", b64, sigHeader(sign("whsec_someone_else", "", "base64", body)), body, errMismatch},
		{"nothing configured fails closed", Config{}, sigHeader(valid), body, errNoSecret},
		{"only empty secrets fail closed", Config{Secrets: []string{""}}, sigHeader(valid), body, errNoSecret},
		{"unsupported algorithm fails closed", Config{Secrets: []string{testSecret}, Algorithm: "md5"}, sigHeader(valid), body, errConfig},
		{"unsupported encoding fails closed", Config{Secrets: []string{testSecret}, Encoding: "base32"}, sigHeader(valid), body, errConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := New(tc.cfg).Authenticate(tc.header, tc.body, now)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			require.ErrorIs(t, err, providers.ErrUnauthenticated)
			require.NotErrorIs(t, err, providers.ErrMalformed)
			msg := err.Error()
			for _, s := range []string{testSecret, testRotated, "whsec_", valid, valid[:16], validB64[:16], rotated[:16]} {
				require.NotContains(t, msg, s)
			}
		})
	}
}

func TestSplitPrefix(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, name, rest string
		ok             bool
	}{
		{"sha256=abc", "sha256", "abc", true},
		{"SHA-512=abc", "SHA-512", "abc", true},
		{"abc=", "", "", false},
		{"abc==", "", "", false},
		{"=abc", "", "", false},
		{"ab+c=d", "", "", false},
		{"abc", "", "", false},
	}
	for _, tc := range cases {
		name, rest, ok := splitPrefix(tc.in)
		require.Equal(t, tc.ok, ok, tc.in)
		require.Equal(t, tc.name, name, tc.in)
		require.Equal(t, tc.rest, rest, tc.in)
	}
}
