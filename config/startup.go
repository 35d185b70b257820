package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// ServerTLS loads the certificate and key that tls names: nil when TLS is
// off. An error starts with the key it is about.
func (c Config) ServerTLS() (*tls.Config, error) {
	if c.TLS.CertFile == "" || c.TLS.KeyFile == "" {
		return nil, nil
	}
	// Read each file first, so that a missing or unreadable one is named.
	certPEM, err := os.ReadFile(c.TLS.CertFile)
	if err != nil {
		return nil, fmt.Errorf("tls.cert_file: %w", err)
	}
	keyPEM, err := os.ReadFile(c.TLS.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls.key_file: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls: cert_file and key_file do not make a certificate and its key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// StartupErrors finds what would stop `paystate serve` from starting with
// c that Validate cannot see from the values alone: files that are
// missing, unreadable or hold no usable key, addresses that do not parse,
// a data directory that is a file. It creates nothing. Each error starts
// with the key it is about.
func (c Config) StartupErrors(now time.Time) []error {
	var errs []error
	for _, a := range []struct{ key, addr string }{{"http_addr", c.HTTPAddr}, {"grpc_addr", c.GRPCAddr}} {
		if a.addr == "" {
			continue // Validate says so
		}
		if err := checkListenAddr(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q %w", a.key, a.addr, err))
		}
	}
	if c.DataDir != "" {
		if err := checkDir(c.DataDir); err != nil {
			errs = append(errs, fmt.Errorf("data_dir: %w", err))
		}
	}
	if tc, err := c.ServerTLS(); err != nil {
		errs = append(errs, err)
	} else if tc != nil {
		if leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0]); err == nil && now.After(leaf.NotAfter) {
			errs = append(errs, fmt.Errorf("tls.cert_file: the certificate expired on %s: clients will refuse it", leaf.NotAfter.UTC().Format(time.DateOnly)))
		}
	}
	if err := c.CheckCardIDKey(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// checkListenAddr wants host:port with a port net.Listen understands.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("is not host:port, like 127.0.0.1:8080 or :8080")
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("has no usable port: %q", port)
	}
	return nil
}

// checkDir says why serve could not use (or create) dir as a directory.
func checkDir(dir string) error {
	for at := filepath.Clean(dir); ; at = filepath.Dir(at) {
		fi, err := os.Stat(at)
		switch {
		case err == nil && !fi.IsDir():
			return fmt.Errorf("%s is a file, not a directory", at)
		case err == nil:
			return nil // it, or the parent serve creates it in
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		if filepath.Dir(at) == at {
			return nil
		}
	}
}
