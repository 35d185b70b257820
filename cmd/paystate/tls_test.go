package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// selfSigned writes a certificate for localhost/127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	return certValidUntil(t, dir, "", time.Now().Add(time.Hour))
}

// serverTemplate is a server certificate for localhost and 127.0.0.1,
// valid for the two hours before notAfter.
func serverTemplate(notAfter time.Time) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "paystate test"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: notAfter.Add(-2 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
}

// certValidUntil is selfSigned with a name prefix for the files and an
// expiry.
func certValidUntil(t *testing.T, dir, prefix string, notAfter time.Time) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := serverTemplate(notAfter)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, prefix+"cert.pem"), filepath.Join(dir, prefix+"key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(leaf)
	return certFile, keyFile, pool
}

// TestTLSOnBothListeners: with a certificate configured, webhooks, REST
// (through the gateway's own TLS loopback) and gRPC all speak TLS.
func TestTLSOnBothListeners(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dir
	cfg.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done, addrs := make(chan error, 1), make(chan [2]string, 1)
	go func() {
		done <- runServer(ctx, cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), func(h, g string) { addrs <- [2]string{h, g} })
	}()
	var a [2]string
	select {
	case a = <-addrs:
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	}
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodPost, "https://"+a[0]+"/webhooks/ngenius", bytes.NewReader(sample(t, "AUTHORISED")))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(dev.NGeniusHeaderName, dev.NGeniusHeaderValue)
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	req, _ = http.NewRequest(http.MethodGet, "https://"+a[0]+"/v1/providers/ngenius/orders/abc123xyz", nil)
	req.Header.Set("Authorization", "Bearer "+dev.APIToken)
	resp, err = client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "REST through the TLS loopback")

	conn, err := grpc.NewClient(a[1], grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})))
	require.NoError(t, err)
	defer conn.Close()
	o, err := pb.NewOrderServiceClient(conn).GetOrder(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+dev.APIToken),
		&pb.GetOrderRequest{Provider: "ngenius", OrderId: "abc123xyz"})
	require.NoError(t, err)
	require.Equal(t, "authorized", o.GetStateName())

	// Plain HTTP gets no answer from the TLS port.
	plain, err := http.Get("http://" + a[0] + "/healthz")
	if err == nil {
		plain.Body.Close()
		require.NotEqual(t, http.StatusOK, plain.StatusCode)
	}
}
