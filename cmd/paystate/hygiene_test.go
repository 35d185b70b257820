package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/config"
)

// The development banner prints an API token only when the server will
// accept it: with PAYSTATE_API_TOKENS set, the generated token is not one
// of the server's tokens.
func TestDevBannerPrintsOnlyAnAcceptedToken(t *testing.T) {
	for _, env := range []map[string]string{{}, {"PAYSTATE_API_TOKENS": "reader:r-token,admin:a-token"}} {
		cfg, dev, banner := devBanner(t, env, "127.0.0.1:1", "127.0.0.1:2")
		accepted := false
		for _, tok := range cfg.APITokens {
			accepted = accepted || tok.Token == dev.APIToken
		}
		require.Equal(t, accepted, bytes.Contains(banner.Bytes(), []byte(dev.APIToken)), "env %v:\n%s", env, banner.String())
		require.Equal(t, len(env) == 0, accepted, "the generated token is used exactly when none is given")
	}
}

// The banner prints the generated N-Genius header only when the server
// accepts it: with PAYSTATE_NGENIUS_HEADER_NAME and _VALUES set, those are
// the only ones, and the send example passes them.
func TestDevBannerPrintsOnlyAnAcceptedNGeniusHeader(t *testing.T) {
	for _, env := range []map[string]string{{},
		{"PAYSTATE_NGENIUS_HEADER_NAME": "X-Webhook-Token", "PAYSTATE_NGENIUS_HEADER_VALUES": "mine"},
		{"PAYSTATE_NGENIUS_ALLOW_UNAUTHENTICATED": "true"}} {
		_, dev, banner := devBanner(t, env, "127.0.0.1:8080", "127.0.0.1:9090")
		generated := len(env) == 0
		require.Equal(t, generated, bytes.Contains(banner.Bytes(), []byte(dev.NGeniusHeaderValue)), "env %v:\n%s", env, banner.String())
		if env["PAYSTATE_NGENIUS_HEADER_NAME"] != "" {
			require.Contains(t, banner.String(), "--secret 'X-Webhook-Token: $SECRET' ngenius sample_captured")
		} else {
			require.NotContains(t, banner.String(), "--secret")
		}
	}
}

// The banner's send example reaches this server and its credentials: a
// server on other ports or another data dir names them.
func TestDevBannerSendsToThisServer(t *testing.T) {
	cfg, err := config.Parse(nil, "", func(string) string { return "" })
	require.NoError(t, err)
	dir := t.TempDir()
	cfg.DataDir = dir
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	var banner bytes.Buffer
	printDev(&banner, cfg, dev, "127.0.0.1:18080", "127.0.0.1:19090")
	require.Contains(t, banner.String(), "paystate send --url http://127.0.0.1:18080 --data-dir "+dir+" ngenius sample_captured")

	cfg.DataDir = "paystate-data"
	banner.Reset()
	printDev(&banner, cfg, dev, "127.0.0.1:8080", "127.0.0.1:9090")
	require.Contains(t, banner.String(), "paystate send ngenius sample_captured")
	require.Contains(t, banner.String(), "grpcurl -plaintext ")
	require.Contains(t, banner.String(), " http://127.0.0.1:8080/v1/")

	// With TLS on, every example speaks TLS and trusts the certificate.
	cfg.TLS.CertFile, cfg.TLS.KeyFile = "tls.crt", "tls.key"
	banner.Reset()
	printDev(&banner, cfg, dev, "127.0.0.1:8080", "127.0.0.1:9090")
	require.Contains(t, banner.String(), "paystate send --ca-file tls.crt ngenius sample_captured")
	require.Contains(t, banner.String(), "curl -s --cacert tls.crt -H ")
	require.Contains(t, banner.String(), " https://127.0.0.1:8080/v1/")
	require.Contains(t, banner.String(), "grpcurl -cacert tls.crt -H ")
	require.NotContains(t, banner.String(), "-plaintext")
}

// The server's logger masks card data in every record, whatever logs it.
func TestServerLoggerMasksCardData(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var out bytes.Buffer
		log, err := newLogger(&out, format, "info")
		require.NoError(t, err)
		log.Info("payment.x4111111111111111", "aggregate", "4111.1111.1111.1111", "card_cvv", "123", "n", int64(4111111111111111))
		require.NotContains(t, out.String(), "1111.1111")
		require.NotContains(t, out.String(), "4111111111111111")
		require.NotContains(t, out.String(), "card_cvv")
		require.Contains(t, out.String(), "411111******1111", format)
	}
}

// simulate names an unknown provider as such rather than asking for the
// scenario it cannot have.
func TestSimulateUnknownProvider(t *testing.T) {
	err := run(t.Context(), []string{"simulate", "nope"}, noEnv)
	require.ErrorContains(t, err, `unknown provider "nope"`)
}

// devBanner is the development banner a server started with env (and no
// config file) prints, with the configuration and credentials behind it.
func devBanner(t *testing.T, env map[string]string, httpAddr, grpcAddr string) (config.Config, *config.DevCredentials, *bytes.Buffer) {
	t.Helper()
	cfg, err := config.Parse(nil, "", func(k string) string { return env[k] })
	require.NoError(t, err)
	cfg.DataDir = t.TempDir()
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	require.NotNil(t, dev)
	var banner bytes.Buffer
	printDev(&banner, cfg, dev, httpAddr, grpcAddr)
	return cfg, dev, &banner
}
