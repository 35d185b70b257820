package magnius

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
)

// Sign signs a body the way the provider does, for tests and the webhook
// simulator: it returns the X-Signature value, the base64 RSA PKCS #1 v1.5
// signature of the SHA-1 digest of body.
func Sign(key *rsa.PrivateKey, body []byte) (string, error) {
	if key == nil {
		return "", errors.New("magnius: no signing key")
	}
	digest := sha1.Sum(body)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA1, digest[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// GenerateTestKey returns a fresh 2048-bit RSA key pair for tests and the
// webhook simulator: the private key to Sign with and its public key as a
// PKIX "PUBLIC KEY" PEM block, the form Magnius publishes, to put in
// Config.PublicKeysPEM.
func GenerateTestKey() (*rsa.PrivateKey, string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, "", err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, "", err
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}
