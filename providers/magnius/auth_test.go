package magnius

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/providers"
)

type testKey struct {
	priv *rsa.PrivateKey
	pem  string // PKIX "PUBLIC KEY"
}

// Keys are expensive to generate: each test binary makes three, once.
var testKeys = sync.OnceValue(func() [3]testKey {
	var out [3]testKey
	for i := range out {
		priv, pub, err := GenerateTestKey()
		if err != nil {
			panic(err)
		}
		out[i] = testKey{priv, pub}
	}
	return out
})

func sign(t testing.TB, k *rsa.PrivateKey, body []byte) string {
	t.Helper()
	sig, err := Sign(k, body)
	require.NoError(t, err)
	return sig
}

func signedHeader(sig string) http.Header {
	h := http.Header{}
	h.Set(SignatureHeader, sig)
	return h
}

func mustNew(t testing.TB, pems ...string) *Provider {
	t.Helper()
	p, err := New(Config{PublicKeysPEM: pems})
	require.NoError(t, err)
	return p
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	keys := testKeys()
	old, current, stranger := keys[0], keys[1], keys[2]
	body := readFixture(t, "sample_transaction.json")
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

	good := sign(t, current.priv, body)
	byOld := sign(t, old.priv, body)
	flipped := bytes.Clone(body)
	flipped[len(flipped)/2] ^= 0x01
	raw, err := base64.StdEncoding.DecodeString(good)
	require.NoError(t, err)
	sigFlipped := bytes.Clone(raw)
	sigFlipped[10] ^= 0x80
	sha256Digest := sha256.Sum256(body)
	sha256Sig, err := rsa.SignPKCS1v15(nil, current.priv, crypto.SHA256, sha256Digest[:])
	require.NoError(t, err)
	sha1Digest := sha1.Sum(body)
	pssSig, err := rsa.SignPSS(rand.Reader, current.priv, crypto.SHA1, sha1Digest[:], nil)
	require.NoError(t, err)

	rotation := []string{old.pem, current.pem}
	cases := []struct {
		name   string
		keys   []string
		header providers.Headers
		body   []byte
		ok     bool
	}{
		{"valid", []string{current.pem}, signedHeader(good), body, true},
		{"rotation: new key", rotation, signedHeader(good), body, true},
		{"rotation: old key", rotation, signedHeader(byOld), body, true},
		{"old key after rotation finished", []string{current.pem}, signedHeader(byOld), body, false},
		{"header name lower case", []string{current.pem}, http.Header{"X-Signature": {good}}, body, true},
		{"surrounding blanks", []string{current.pem}, signedHeader(" " + good + " "), body, true},
		{"one flipped byte of the body", []string{current.pem}, signedHeader(good), flipped, false},
		{"extra byte after the body", []string{current.pem}, signedHeader(good), append(bytes.Clone(body), '\n'), false},
		{"empty body", []string{current.pem}, signedHeader(good), nil, false},
		{"one flipped bit of the signature", []string{current.pem}, signedHeader(base64.StdEncoding.EncodeToString(sigFlipped)), body, false},
		{"truncated signature", []string{current.pem}, signedHeader(base64.StdEncoding.EncodeToString(raw[:len(raw)-1])), body, false},
		{"wrong key", []string{current.pem}, signedHeader(sign(t, stranger.priv, body)), body, false},
		{"SHA-256 instead of SHA-1", []string{current.pem}, signedHeader(base64.StdEncoding.EncodeToString(sha256Sig)), body, false},
		{"PSS instead of PKCS #1 v1.5", []string{current.pem}, signedHeader(base64.StdEncoding.EncodeToString(pssSig)), body, false},
		{"missing header", []string{current.pem}, http.Header{}, body, false},
		{"nil headers", []string{current.pem}, nil, body, false},
		{"empty header", []string{current.pem}, http.Header{"X-Signature": {""}}, body, false},
		{"malformed header: not base64", []string{current.pem}, signedHeader("zq-presented-junk!"), body, false},
		// The URL alphabet differs from the standard one only in + and /: a
		// signature without either (odds about 1 in 50000) reads the same.
		{"malformed header: URL alphabet", []string{current.pem}, signedHeader(base64.URLEncoding.EncodeToString(raw)), body, !strings.ContainsAny(good, "+/")},
		{"malformed header: padding missing", []string{current.pem}, signedHeader(strings.TrimRight(good, "=") + "A"), body, false},
		{"malformed header: hex", []string{current.pem}, signedHeader(strings.Repeat("ab", 256)), body, false},
		{"signature in another header", []string{current.pem}, http.Header{"X-Magnius-Signature": {good}}, body, false},
		{"no key configured fails closed", nil, signedHeader(good), body, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := mustNew(t, tc.keys...).Authenticate(tc.header, tc.body, now)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.ErrorIs(t, err, providers.ErrUnauthenticated)
			require.NotErrorIs(t, err, providers.ErrMalformed)
			msg := err.Error()
			for _, s := range []string{good, byOld, good[:16], "zq-presented", "abab"} {
				require.NotContains(t, msg, s, "the error must not echo the presented header")
			}
		})
	}
}

// TestSignIsPKCS1v15SHA1 checks Sign against the definition instead of
// against crypto/rsa's verifier: s^e mod n must be the EMSA-PKCS1-v1_5
// encoding of the SHA-1 digest of the body.
func TestSignIsPKCS1v15SHA1(t *testing.T) {
	t.Parallel()
	k := testKeys()[0].priv
	body := []byte(`{"type":"transaction","id":"t1","status":"AUTHORIZED"}`)
	sig, err := base64.StdEncoding.DecodeString(sign(t, k, body))
	require.NoError(t, err)
	size := k.PublicKey.Size()
	require.Len(t, sig, size)

	m := new(big.Int).Exp(new(big.Int).SetBytes(sig), big.NewInt(int64(k.PublicKey.E)), k.PublicKey.N)
	em := m.FillBytes(make([]byte, size))
	digest := sha1.Sum(body)
	digestInfo := append([]byte{0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14}, digest[:]...)
	want := append([]byte{0x00, 0x01}, bytes.Repeat([]byte{0xff}, size-3-len(digestInfo))...)
	want = append(append(want, 0x00), digestInfo...)
	require.Equal(t, want, em)

	// Deterministic: the same body signs the same way.
	require.Equal(t, sign(t, k, body), sign(t, k, body))
	_, err = Sign(nil, body)
	require.Error(t, err)
}

func TestGenerateTestKey(t *testing.T) {
	t.Parallel()
	k := testKeys()[1]
	require.Equal(t, 2048, k.priv.N.BitLen())
	block, rest := pem.Decode([]byte(k.pem))
	require.NotNil(t, block)
	require.Empty(t, strings.TrimSpace(string(rest)))
	require.Equal(t, "PUBLIC KEY", block.Type)
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	require.NoError(t, err)
	require.True(t, k.priv.PublicKey.Equal(pub))
}

// TestKeyForms: the public key is accepted as a PKIX public key, a PKCS #1
// public key or a certificate, alone or several in one entry.
func TestKeyForms(t *testing.T) {
	t.Parallel()
	k := testKeys()[0]
	other := testKeys()[1]
	body := []byte(`{"type":"refund","id":"r1","status":"PROCESSED","amount":100}`)
	sig := sign(t, k.priv, body)
	otherSig := sign(t, other.priv, body)

	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.priv.PublicKey)}))
	cert := certificatePEM(t, k.priv)
	cases := map[string]string{
		"PKIX":                          k.pem,
		"PKCS #1":                       pkcs1,
		"certificate":                   cert,
		"CRLF line endings":             strings.ReplaceAll(k.pem, "\n", "\r\n"),
		"text around the block":         "Magnius payground webhook key\n" + cert + "\nsubject=CN=webhooks\n",
		"two blocks in one entry":       other.pem + pkcs1,
		"certificate after another key": other.pem + "\n" + cert,
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			p := mustNew(t, text)
			require.NoError(t, p.Authenticate(signedHeader(sig), body, time.Time{}))
			if strings.Count(text, "-----BEGIN") == 2 {
				require.NoError(t, p.Authenticate(signedHeader(otherSig), body, time.Time{}), "both blocks are keys")
			} else {
				require.ErrorIs(t, p.Authenticate(signedHeader(otherSig), body, time.Time{}), providers.ErrUnauthenticated)
			}
		})
	}
}

func certificatePEM(t *testing.T, k *rsa.PrivateKey) string {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "webhooks.example"},
		NotBefore:    time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2034, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestConfigErrors: a key that cannot be used stops start-up, naming the
// entry, and the error does not echo the key material.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	good := testKeys()[0].pem
	privDER, err := x509.MarshalPKCS8PrivateKey(testKeys()[0].priv)
	require.NoError(t, err)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecDER, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	require.NoError(t, err)
	small := &rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), 511), E: 65537}
	small.N.Add(small.N, big.NewInt(1))
	block := func(typ string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}

	cases := []struct {
		name    string
		pem     string
		mention string
	}{
		{"empty", "", "no PEM block"},
		{"not PEM", "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", "no PEM block"},
		{"private key", block("PRIVATE KEY", privDER), "private key"},
		{"RSA private key", block("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(testKeys()[0].priv)), "private key"},
		{"EC public key", block("PUBLIC KEY", ecDER), "not an RSA key"},
		{"corrupt PKIX", block("PUBLIC KEY", []byte("garbage")), "cannot parse the PKIX public key"},
		{"corrupt PKCS #1", block("RSA PUBLIC KEY", []byte("garbage")), "cannot parse the PKCS #1 public key"},
		{"corrupt certificate", block("CERTIFICATE", []byte("garbage")), "cannot parse the certificate"},
		{"other block", block("CERTIFICATE REQUEST", []byte("x")), "not a public key or certificate"},
		{"small key", block("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(small)), "too small"},
		{"second block bad", good + block("PUBLIC KEY", []byte("garbage")), "PEM block 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(Config{PublicKeysPEM: []string{good, tc.pem}})
			require.Error(t, err)
			require.Nil(t, p)
			require.Contains(t, err.Error(), "PublicKeysPEM[1]", "the error names the entry")
			require.Contains(t, err.Error(), tc.mention)
			require.NotContains(t, err.Error(), "MII", "the error must not echo key material")
		})
	}
}
