package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/config"
)

// testCA writes a CA certificate and a server certificate it signed for
// localhost and 127.0.0.1, with the server's key.
func testCA(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "paystate test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.CreateCertificate(rand.Reader, serverTemplate(now.Add(time.Hour)), ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	return caFile, certFile, keyFile
}

// TestClientCommandsOverTLS: against a server whose certificate a private
// CA signed, send, simulate and the gRPC client commands work with
// --ca-file (or PAYSTATE_CA_FILE); without it, or plaintext, or under the
// wrong --server-name, each says what to pass.
func TestClientCommandsOverTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := testCA(t, dir)
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dir
	cfg.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	s := startServerWith(t, cfg, dev)
	httpAddr := strings.TrimPrefix(s.http, "http://")

	// http:// becomes https:// with --ca-file: the default URL works too.
	require.NoError(t, run(t.Context(), []string{"send", "--url", "http://" + httpAddr, "--ca-file", caFile, "--data-dir", dir,
		"--order-id", "tls-1", "ngenius", "event_AUTHORISED"}, noEnv))
	env, out := s.cli(t)
	require.NoError(t, run(t.Context(), []string{"simulate", "--url", "https://" + httpAddr, "--ca-file", caFile, "--data-dir", dir,
		"--order-id", "tls-2", "ngenius", "fraud-review"}, noEnv))
	require.Contains(t, out.String(), "final:")
	out.Reset()
	withCA := func(k string) string {
		if k == "PAYSTATE_CA_FILE" {
			return caFile
		}
		return env(k)
	}
	require.NoError(t, run(t.Context(), []string{"get", "-o", "json", "ngenius", "tls-1"}, withCA))
	require.Regexp(t, `"stateName":\s+"authorized"`, out.String())
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"get", "-o", "json", "--ca-file", caFile, "--server-name", "localhost", "ngenius", "tls-1"}, env))
	require.Regexp(t, `"stateName":\s+"authorized"`, out.String())

	err = run(t.Context(), []string{"get", "ngenius", "tls-1"}, env)
	require.ErrorContains(t, err, "pass --tls", "plaintext to a TLS port")
	err = run(t.Context(), []string{"get", "--tls", "ngenius", "tls-1"}, env)
	require.ErrorContains(t, err, "pass --ca-file", "a private CA the system does not know")
	err = run(t.Context(), []string{"get", "--ca-file", caFile, "--server-name", "paystate.example", "ngenius", "tls-1"}, env)
	require.ErrorContains(t, err, "--server-name")
	err = run(t.Context(), []string{"send", "--url", "https://" + httpAddr, "--data-dir", dir, "ngenius", "event_AUTHORISED"}, noEnv)
	require.ErrorContains(t, err, "pass --ca-file")
	err = run(t.Context(), []string{"send", "--url", "http://" + httpAddr, "--ca-file", filepath.Join(dir, "server-key.pem"), "--data-dir", dir, "ngenius", "event_AUTHORISED"}, noEnv)
	require.ErrorContains(t, err, "no PEM certificate")
}

// TestClientSaysWhenTheServerIsDown: a command pointed at an address where
// nothing listens says so and how to start the server.
func TestClientSaysWhenTheServerIsDown(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := lis.Addr().String()
	require.NoError(t, lis.Close())
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.DataDir = dir
	_, err = config.FillDev(&cfg)
	require.NoError(t, err)

	err = run(t.Context(), []string{"get", "--addr", closed, "--data-dir", dir, "ngenius", "x"}, noEnv)
	require.ErrorContains(t, err, "the server is not reachable at "+closed+": nothing answers there")
	require.ErrorContains(t, err, "--addr (PAYSTATE_GRPC_ADDR)")
	require.ErrorContains(t, err, `"paystate serve"`)
	err = run(t.Context(), []string{"send", "--url", "http://" + closed, "--data-dir", dir, "ngenius", "event_AUTHORISED"}, noEnv)
	require.ErrorContains(t, err, `"paystate serve"`)
}

func noEnv(string) string { return "" }
