package simulator

import (
	"cmp"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
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

// Every scenario's bodies parse, as its provider reads them, into events
// about the run's order (or a child of it), each delivery with its own
// dedupe keys: the sequence is one story about one object.
func TestScenariosTellOneStory(t *testing.T) {
	t.Parallel()
	require.NotEmpty(t, Scenarios())
	for _, sc := range Scenarios() {
		p, ok := Lookup(sc.Provider)
		require.True(t, ok, sc.Provider)
		r := NewRewriter("order-" + sc.Name)
		bodies, err := sc.Bodies(r)
		require.NoError(t, err, "%s/%s", sc.Provider, sc.Name)
		require.Len(t, bodies, len(sc.Steps))
		keys := map[string]bool{}
		reference := ""
		for i, b := range bodies {
			evs, err := p.parse(b)
			require.NoError(t, err, "%s/%s step %d", sc.Provider, sc.Name, i+1)
			onOrder := false
			for _, ev := range evs {
				onOrder = onOrder || ev.AggregateID == r.OrderID || (ev.Parent != nil && ev.Parent.ID == r.OrderID)
				if p.eventIDs != nil {
					require.False(t, keys[ev.DedupeKey], "%s/%s step %d: a fresh event, not a redelivery", sc.Provider, sc.Name, i+1)
				}
				keys[ev.DedupeKey] = true
				if ev.MerchantReference != "" {
					reference = cmp.Or(reference, ev.MerchantReference)
					require.Equal(t, reference, ev.MerchantReference, "%s/%s step %d: one order, one merchant reference", sc.Provider, sc.Name, i+1)
				}
			}
			require.True(t, onOrder, "%s/%s step %d is about %+v", sc.Provider, sc.Name, i+1, evs)
		}
		_, found := LookupScenario(sc.Provider, sc.Name)
		require.True(t, found)
	}
	_, found := LookupScenario("ngenius", "nosuch")
	require.False(t, found)
}

// A Rewriter keeps a run consistent: the order everywhere, one new id per
// other object, fresh event ids on every send; without an order id only
// the event ids change.
func TestRewriter(t *testing.T) {
	t.Parallel()
	p, _ := Lookup(generic.Name)
	read := func(name string) []byte {
		b, err := fs.ReadFile(p.Samples, "testdata/"+name+".json")
		require.NoError(t, err)
		return b
	}
	r := NewRewriter("ord-1")
	initiated, err := r.Rewrite(generic.Name, read("partial_refund_2_refund.initiated"))
	require.NoError(t, err)
	completed, err := r.Rewrite(generic.Name, read("partial_refund_3_refund.completed"))
	require.NoError(t, err)
	a, err := p.parse(initiated)
	require.NoError(t, err)
	b, err := p.parse(completed)
	require.NoError(t, err)
	require.Equal(t, "ord-1", a[0].Parent.ID)
	require.NotEqual(t, "re_0f1e2d3c", a[0].AggregateID, "the refund gets a new id")
	require.Equal(t, a[0].AggregateID, b[0].AggregateID, "the same refund in both samples")
	require.NotEqual(t, a[0].DedupeKey, b[0].DedupeKey)
	require.Contains(t, string(completed), `"amount":20250`, "numbers stay as written")

	again, err := NewRewriter("").Rewrite(generic.Name, read("partial_refund_3_refund.completed"))
	require.NoError(t, err)
	c, err := p.parse(again)
	require.NoError(t, err)
	require.Equal(t, "re_0f1e2d3c", c[0].AggregateID, "no order id: object ids stay")
	orig, err := p.parse(read("partial_refund_3_refund.completed"))
	require.NoError(t, err)
	require.NotEqual(t, orig[0].DedupeKey, c[0].DedupeKey, "a fresh event id")

	_, err = r.Rewrite(generic.Name, []byte(`[1]`))
	require.Error(t, err)
	_, err = r.Rewrite("nosuch", []byte(`{}`))
	require.Error(t, err)
}

// TestEverySecretForm: each credential form a provider's verifier accepts
// can be given as a Secret (Inyo's Basic credentials, plain or already
// encoded, and its bearer token; the generic gateway's SHA-512, SHA-1 and
// base64 options; a PKCS #8 Magnius key), and the verifier configured with
// it accepts what is signed, and refuses what another secret signs.
func TestEverySecretForm(t *testing.T) {
	dev, err := config.LoadDev(t.TempDir(), true)
	require.NoError(t, err)
	body := []byte(`{"id":"x"}`)
	now := time.Now()

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	pkcs8 := filepath.Join(t.TempDir(), "magnius.pem")
	require.NoError(t, os.WriteFile(pkcs8, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	mg, err := magnius.New(magnius.Config{PublicKeysPEM: []string{string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))}})
	require.NoError(t, err)

	basic := inyo.New(inyo.Config{Basic: []inyo.BasicCredential{{User: "inyo", Password: "pw:with:colons"}}})
	bearer := inyo.New(inyo.Config{Bearer: []string{"tok"}})
	for _, c := range []struct {
		provider string
		verifier providers.Provider
		secret   Secret
		wrong    Secret
	}{
		{inyo.Name, basic, Secret{Value: "Basic inyo:pw:with:colons"}, Secret{Value: "Basic inyo:pw"}},
		{inyo.Name, basic, Secret{Value: "basic " + base64.StdEncoding.EncodeToString([]byte("inyo:pw:with:colons"))}, Secret{Value: "inyo:pw:with:colons"}},
		{inyo.Name, bearer, Secret{Value: "tok"}, Secret{Value: "Basic tok:"}},
		{inyo.Name, bearer, Secret{Value: "Bearer tok"}, Secret{Value: "Bearer tok2"}},
		{generic.Name, generic.New(generic.Config{Secrets: []string{"g"}, Algorithm: "sha512", Encoding: "base64"}),
			Secret{Value: "g", Algorithm: "sha512", Encoding: "base64"}, Secret{Value: "g", Algorithm: "sha512"}},
		{generic.Name, generic.New(generic.Config{Secrets: []string{"g"}, Algorithm: "sha1"}),
			Secret{Value: "g", Algorithm: "sha1"}, Secret{Value: "g"}},
		{generic.Name, generic.New(generic.Config{Secrets: []string{dev.GenericSecret}, Encoding: "base64"}),
			Secret{Encoding: "base64"}, Secret{}},
		{magnius.Name, mg, Secret{Value: pkcs8}, Secret{}},
	} {
		p, ok := Lookup(c.provider)
		require.True(t, ok)
		h, err := p.Sign(body, dev, c.secret, now)
		require.NoError(t, err)
		require.NoError(t, c.verifier.Authenticate(h, body, now), "%s %+v", c.provider, c.secret)
		h, err = p.Sign(body, dev, c.wrong, now)
		require.NoError(t, err)
		require.ErrorIs(t, c.verifier.Authenticate(h, body, now), providers.ErrUnauthenticated, "%s %+v", c.provider, c.wrong)
	}
	_, err = Sign(generic.Name, body, dev, "", now)
	require.NoError(t, err)
	p, _ := Lookup(generic.Name)
	_, err = p.Sign(body, dev, Secret{Algorithm: "md5"}, now)
	require.ErrorContains(t, err, `unsupported algorithm "md5"`)
}
