package crashtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/generic"
	"github.com/paystate/paystate/providers/inyo"
	"github.com/paystate/paystate/providers/magnius"
	"github.com/paystate/paystate/providers/ngenius"
	"github.com/paystate/paystate/providers/payengine"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// A webhook is one body a provider would send, with what its parse says.
type webhook struct {
	provider string
	body     []byte
	// keys are the dedupe keys of the body's events.
	keys []string
}

// A scenario is the life of one object at one provider: its webhooks in
// the order the provider would send them, and the state each aggregate
// must end in once all of them have landed, whatever order they arrived
// in.
type scenario struct {
	provider string
	hooks    []webhook
	final    map[storage.AggregateKey]string
}

// parsers parse bodies as the server does (default currencies), to learn
// their dedupe keys.
var parsers = func() map[string]providers.Provider {
	m, err := magnius.New(magnius.Config{})
	if err != nil {
		panic(err)
	}
	return map[string]providers.Provider{
		ngenius.Name:   ngenius.New(ngenius.Config{}),
		magnius.Name:   m,
		payengine.Name: payengine.New(payengine.Config{}),
		inyo.Name:      inyo.New(inyo.Config{}),
		generic.Name:   generic.New(generic.Config{}),
	}
}()

// machines is the registry the server runs, for engine.Verify.
func machines(t testing.TB) *sm.Registry {
	var tables []sm.Table
	for _, name := range []string{ngenius.Name, magnius.Name, payengine.Name, inyo.Name, generic.Name} {
		tables = append(tables, parsers[name].Tables()...)
	}
	reg, err := sm.NewRegistry(tables...)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func newWebhook(t testing.TB, provider string, body []byte) webhook {
	t.Helper()
	events, err := parsers[provider].Parse(body)
	if err != nil {
		t.Fatalf("%s: a generated body does not parse: %v\n%s", provider, err, body)
	}
	w := webhook{provider: provider, body: body}
	for _, e := range events {
		w.keys = append(w.keys, e.DedupeKey)
	}
	return w
}

// sample decodes a documented sample (numbers kept exact).
func sample(t testing.TB, samples fs.FS, name string) map[string]any {
	t.Helper()
	raw, err := fs.ReadFile(samples, "testdata/"+name+".json")
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, raw)
}

func decode(t testing.TB, raw []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// set sets the member at a dotted path, creating objects on the way.
func set(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

func encode(t testing.TB, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Builders: each returns the scenario of object number n, built from the
// provider's documented samples with fresh identifiers. tag keeps runs
// apart.
var builders = []func(t testing.TB, tag string, n int) scenario{
	ngeniusOrder, genericPayment, payengineTransaction, inyoPayment, magniusTransaction,
}

func ngeniusOrder(t testing.TB, tag string, n int) scenario {
	id := fmt.Sprintf("ord-%s-%d", tag, n)
	sc := scenario{provider: ngenius.Name, final: map[storage.AggregateKey]string{
		{Provider: ngenius.Name, Kind: "payment", ID: id}: "captured",
	}}
	for _, ev := range []string{"AUTHORISED", "CAPTURED"} {
		m := sample(t, ngenius.Samples, "sample_captured")
		set(m, "event", ev)
		set(m, "order.id", id)
		set(m, "order.reference", "REF-"+id)
		set(m, "transaction.id", "txn-"+id+"-"+ev)
		set(m, "transaction.state", ev)
		sc.hooks = append(sc.hooks, newWebhook(t, ngenius.Name, encode(t, m)))
	}
	return sc
}

func genericPayment(t testing.TB, tag string, n int) scenario {
	pay, re := fmt.Sprintf("pay_%s_%d", tag, n), fmt.Sprintf("re_%s_%d", tag, n)
	sc := scenario{provider: generic.Name, final: map[storage.AggregateKey]string{
		{Provider: generic.Name, Kind: "payment", ID: pay}: "partially_refunded",
		{Provider: generic.Name, Kind: "refund", ID: re}:   "succeeded",
	}}
	for i, name := range []string{"partial_refund_1_payment.completed", "partial_refund_2_refund.initiated", "partial_refund_3_refund.completed"} {
		m := sample(t, generic.Samples, name)
		set(m, "id", fmt.Sprintf("evt_%s_%d_%d", tag, n, i))
		if i == 0 {
			set(m, "data.object.id", pay)
			set(m, "data.object.merchant_reference", "REF-"+pay)
		} else {
			set(m, "data.id", re)
			set(m, "data.payment_id", pay)
		}
		sc.hooks = append(sc.hooks, newWebhook(t, generic.Name, encode(t, m)))
	}
	return sc
}

// genericCustomer is one event with no lifecycle: recorded.
func genericCustomer(t testing.TB, tag string, n int) scenario {
	m := sample(t, generic.Samples, "event_customer.created")
	set(m, "id", fmt.Sprintf("evt_%s_c%d", tag, n))
	set(m, "data.id", fmt.Sprintf("cus_%s_%d", tag, n))
	return scenario{provider: generic.Name, hooks: []webhook{newWebhook(t, generic.Name, encode(t, m))}}
}

func payengineTransaction(t testing.TB, tag string, n int) scenario {
	tx := fmt.Sprintf("tx-%s-%d", tag, n)
	sc := scenario{provider: payengine.Name, final: map[storage.AggregateKey]string{
		{Provider: payengine.Name, Kind: "payment", ID: tx}: "captured",
	}}
	for i, name := range []string{"PAYMENT_AUTH", "PAYMENT_CAPTURED"} {
		m := sample(t, payengine.Samples, name)
		set(m, "event_uid", fmt.Sprintf("uid-%s-%d-%d", tag, n, i))
		set(m, "data.transaction_id", tx)
		set(m, "data.payment_id", "p-"+tx)
		sc.hooks = append(sc.hooks, newWebhook(t, payengine.Name, encode(t, m)))
	}
	return sc
}

func inyoPayment(t testing.TB, tag string, n int) scenario {
	id := fmt.Sprintf("py-%s-%d", tag, n)
	sc := scenario{provider: inyo.Name, final: map[storage.AggregateKey]string{
		{Provider: inyo.Name, Kind: "payment", ID: id}: "authorized",
	}}
	for _, name := range []string{"challenge_authorized_1_CHALLENGE", "challenge_authorized_2_AUTHORIZED"} {
		m := sample(t, inyo.Samples, name)
		set(m, "paymentId", id)
		set(m, "parentPaymentId", id)
		set(m, "externalPaymentId", "REF-"+id)
		sc.hooks = append(sc.hooks, newWebhook(t, inyo.Name, encode(t, m)))
	}
	return sc
}

func magniusTransaction(t testing.TB, tag string, n int) scenario {
	id := fmt.Sprintf("tr-%s-%d", tag, n)
	sc := scenario{provider: magnius.Name, final: map[storage.AggregateKey]string{
		{Provider: magnius.Name, Kind: "payment", ID: id}: "captured",
	}}
	for _, status := range []string{"INITIATED", "AUTHORIZED", "SETTLEMENT_COMPLETED"} {
		m := sample(t, magnius.Samples, "transaction_AUTHORIZED")
		set(m, "id", id)
		set(m, "status", status)
		set(m, "merchant_reference", "REF-"+id)
		delete(m, "paymentlink_id")
		sc.hooks = append(sc.hooks, newWebhook(t, magnius.Name, encode(t, m)))
	}
	return sc
}

// scenarios returns scenarios, round-robin over the providers, until they
// hold at least n webhooks.
func scenarios(t testing.TB, tag string, n int) []scenario {
	var out []scenario
	for i, hooks := 0, 0; hooks < n; i++ {
		sc := builders[i%len(builders)](t, tag, i)
		out = append(out, sc)
		hooks += len(sc.hooks)
	}
	return out
}

// shuffled returns every webhook of scs in a random order that keeps no
// promise about the order within a scenario: early events are deferred,
// late snapshots stale.
func shuffled(rng *rand.Rand, scs []scenario) []webhook {
	var out []webhook
	for _, sc := range scs {
		out = append(out, sc.hooks...)
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}
