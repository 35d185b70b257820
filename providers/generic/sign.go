package generic

import (
	"crypto/hmac"
	"crypto/sha1" // HMAC-SHA1: one of the configurable algorithms, for gateways that still use it
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// The signature algorithms and encodings Config accepts.
const (
	AlgorithmSHA256 = "sha256"
	AlgorithmSHA512 = "sha512"
	AlgorithmSHA1   = "sha1"

	EncodingHex    = "hex"
	EncodingBase64 = "base64"
)

// algorithm is an HMAC hash the gateway may use.
type algorithm struct {
	name string
	new  func() hash.Hash
	size int
}

var algorithms = map[string]algorithm{
	AlgorithmSHA1:   {AlgorithmSHA1, sha1.New, sha1.Size},
	AlgorithmSHA256: {AlgorithmSHA256, sha256.New, sha256.Size},
	AlgorithmSHA512: {AlgorithmSHA512, sha512.New, sha512.Size},
}

// algorithmByName resolves a configured algorithm name; "" is SHA-256.
func algorithmByName(name string) (algorithm, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		name = AlgorithmSHA256
	}
	a, ok := algorithms[name]
	return a, ok
}

// encodingByName resolves a configured encoding name; "" is hex.
func encodingByName(name string) (string, bool) {
	switch name = strings.ToLower(strings.TrimSpace(name)); name {
	case "":
		return EncodingHex, true
	case EncodingHex, EncodingBase64:
		return name, true
	}
	return "", false
}

func (a algorithm) mac(secret, body []byte) []byte {
	m := hmac.New(a.new, secret)
	m.Write(body)
	return m.Sum(nil)
}

// Sign signs a body the way the provider does, for tests and the webhook
// simulator: the HMAC of the raw body under secret with algorithm ("sha256"
// when empty, "sha512", "sha1"), encoded as encoding ("hex" when empty,
// "base64"). The result is the bare X-Signature value; the gateway may also
// send it as "sha256=<value>", which Authenticate accepts too.
func Sign(secret string, body []byte, algorithm, encoding string) (string, error) {
	if secret == "" {
		return "", errors.New("generic: empty secret")
	}
	alg, ok := algorithmByName(algorithm)
	if !ok {
		return "", fmt.Errorf("generic: unsupported algorithm %q", algorithm)
	}
	enc, ok := encodingByName(encoding)
	if !ok {
		return "", fmt.Errorf("generic: unsupported encoding %q", encoding)
	}
	sum := alg.mac([]byte(secret), body)
	if enc == EncodingBase64 {
		return base64.StdEncoding.EncodeToString(sum), nil
	}
	return hex.EncodeToString(sum), nil
}
