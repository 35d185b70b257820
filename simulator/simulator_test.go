package simulator

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/generic"
	"github.com/paystate/paystate/providers/inyo"
	"github.com/paystate/paystate/providers/magnius"
	"github.com/paystate/paystate/providers/ngenius"
	"github.com/paystate/paystate/providers/payengine"
)

// Every provider accepts what the simulator signs with the development
// credentials, and refuses it signed with another secret.
func TestSignedAsTheProviderVerifies(t *testing.T) {
	dev, err := config.LoadDev(t.TempDir(), true)
	require.NoError(t, err)
	mg, err := magnius.New(magnius.Config{PublicKeysPEM: []string{dev.MagniusPublicKeyPEM}})
	require.NoError(t, err)
	verifiers := map[string]providers.Provider{
		ngenius.Name:   ngenius.New(ngenius.Config{HeaderName: dev.NGeniusHeaderName, HeaderValues: []string{dev.NGeniusHeaderValue}}),
		inyo.Name:      inyo.New(inyo.Config{Bearer: []string{dev.InyoBearer}}),
		magnius.Name:   mg,
		payengine.Name: payengine.New(payengine.Config{Secrets: []string{dev.PayEngineSecret}}),
		generic.Name:   generic.New(generic.Config{Secrets: []string{dev.GenericSecret}}),
	}
	require.Len(t, Names(), len(verifiers))

	other, err := config.LoadDev(t.TempDir(), true)
	require.NoError(t, err)
	otherKey := filepath.Join(t.TempDir(), "key.pem")
	require.NoError(t, os.WriteFile(otherKey, []byte(other.MagniusPrivateKeyPEM), 0o600))
	wrong := map[string]string{ngenius.Name: "wrong", inyo.Name: "wrong", magnius.Name: otherKey, payengine.Name: "wrong", generic.Name: "wrong"}

	now := time.Now()
	for _, name := range Names() {
		p, ok := Lookup(name)
		require.True(t, ok)
		samples, err := fs.Glob(p.Samples, "testdata/*.json")
		require.NoError(t, err)
		require.NotEmpty(t, samples, name)
		body, err := fs.ReadFile(p.Samples, samples[0])
		require.NoError(t, err)

		h, err := Sign(name, body, dev, "", now)
		require.NoError(t, err)
		require.NoError(t, verifiers[name].Authenticate(h, body, now), name)

		h, err = Sign(name, body, dev, wrong[name], now)
		require.NoError(t, err)
		require.ErrorIs(t, verifiers[name].Authenticate(h, body, now), providers.ErrUnauthenticated, name)
	}
	_, err = Sign("nosuch", nil, dev, "", now)
	require.Error(t, err)
}

// N-Genius' header name is configured as well as its value: --secret
// "Name: value" signs for a server whose header_name is not the
// development one, and a plain value keeps the development name.
func TestNGeniusSecretNamesItsHeader(t *testing.T) {
	dev, err := config.LoadDev(t.TempDir(), true)
	require.NoError(t, err)
	body := []byte(`{}`)
	now := time.Now()
	custom := ngenius.New(ngenius.Config{HeaderName: "X-Webhook-Token", HeaderValues: []string{"s3cret:x"}})
	h, err := Sign(ngenius.Name, body, dev, "X-Webhook-Token: s3cret:x", now)
	require.NoError(t, err)
	require.NoError(t, custom.Authenticate(h, body, now))
	h, err = Sign(ngenius.Name, body, dev, "s3cret:x", now)
	require.NoError(t, err)
	require.Equal(t, "s3cret:x", h.Get(dev.NGeniusHeaderName), "a value alone keeps the development header name")
	require.ErrorIs(t, custom.Authenticate(h, body, now), providers.ErrUnauthenticated)
}
