package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// tlsOptions are --tls, --ca-file and --server-name (env PAYSTATE_TLS,
// PAYSTATE_CA_FILE, PAYSTATE_SERVER_NAME), shared by every command that
// talks to a server; --ca-file or --server-name alone turn TLS on.
type tlsOptions struct {
	on                 bool
	caFile, serverName string
}

func addTLSFlags(cmd *cobra.Command, o *tlsOptions) {
	f := cmd.Flags()
	f.BoolVar(&o.on, "tls", false, "talk to the server over TLS, verifying its certificate with the system's CAs")
	envFlag(cmd, "tls", "PAYSTATE_TLS")
	f.StringVar(&o.caFile, "ca-file", "", "PEM file of the CA(s) that signed the server's certificate, instead of the system's; implies --tls")
	envFlag(cmd, "ca-file", "PAYSTATE_CA_FILE")
	f.StringVar(&o.serverName, "server-name", "", "the name the server's certificate must carry, when it is not the address's host; implies --tls")
	envFlag(cmd, "server-name", "PAYSTATE_SERVER_NAME")
}

// config is the client's TLS configuration, nil for plaintext.
func (o *tlsOptions) config() (*tls.Config, error) {
	if !o.on && o.caFile == "" && o.serverName == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.serverName}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", o.caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// httpClient is the client of the commands that post over HTTP (send,
// simulate), and the base URL, with https when TLS is on.
func (o *tlsOptions) httpClient(base string) (*http.Client, string, error) {
	tc, err := o.config()
	if err != nil {
		return nil, "", err
	}
	if tc == nil {
		return &http.Client{Timeout: 30 * time.Second}, base, nil
	}
	if rest, ok := strings.CutPrefix(base, "http://"); ok {
		base = "https://" + rest
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}, base, nil
}

// unreachable explains a failure to connect to the server at addr, with
// what to do about it; other errors pass through.
func unreachable(err error, addr string, usedTLS bool) error {
	if errors.Is(err, syscall.ECONNREFUSED) || isRefused(err) {
		flag := "--addr (PAYSTATE_GRPC_ADDR)"
		if strings.Contains(addr, "://") {
			flag = "--url (PAYSTATE_URL)"
		}
		return fmt.Errorf("the server is not reachable at %s: nothing answers there. Is paystate running? Start it with \"paystate serve\", or point %s at it (%w)", addr, flag, err)
	}
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) || strings.Contains(err.Error(), "x509:") {
		return fmt.Errorf("the server at %s has a certificate this client does not trust: pass --ca-file with its CA (and --server-name if the name differs): %w", addr, err)
	}
	if !usedTLS && isHandshakeGarbage(err) {
		return fmt.Errorf("the server at %s did not speak plaintext: if it serves TLS, pass --tls (and --ca-file for a private CA): %w", addr, err)
	}
	return err
}

func isRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Error(), "connection refused") || strings.Contains(err.Error(), "connection refused")
}

// isHandshakeGarbage: a plaintext client talking to a TLS port sees the
// connection closed or a malformed answer.
func isHandshakeGarbage(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connection closed before server preface") || strings.Contains(s, "malformed HTTP response") ||
		strings.Contains(s, "EOF") || strings.Contains(s, "error reading server preface")
}
