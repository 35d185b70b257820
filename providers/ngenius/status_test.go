package ngenius

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
)

const (
	testAPIKey = "YmFzZTY0LWFwaS1rZXk6c2VjcmV0" // what the portal hands out
	testOutlet = "5edab6d7-5946-43f4-b8c7-06b29c272bdd"
)

// fakeNGenius behaves as the N-Genius identity and order APIs are
// documented to: a token for the API key, valid expires_in seconds; the
// order for a valid bearer token. Tests script failures on top.
type fakeNGenius struct {
	t   *testing.T
	srv *httptest.Server
	now func() time.Time

	mu       sync.Mutex
	issued   map[string]time.Time // token -> expiry
	tokens   int                  // token requests answered
	gets     int                  // order requests received
	orders   map[string]string    // order ref -> JSON
	lifetime int                  // expires_in
	// script, if set, may answer a request itself (returning true).
	script func(w http.ResponseWriter, r *http.Request) bool
}

func newFake(t *testing.T, now func() time.Time) *fakeNGenius {
	f := &fakeNGenius{t: t, now: now, issued: map[string]time.Time{}, orders: map[string]string{}, lifetime: 300}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeNGenius) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	script := f.script
	f.mu.Unlock()
	if script != nil && script(w, r) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/identity/auth/access-token":
		if r.Header.Get("Authorization") != "Basic "+testAPIKey || r.Header.Get("Content-Type") != identityMediaType {
			http.Error(w, `{"message":"Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		f.tokens++
		tok := fmt.Sprintf("token-%d", f.tokens)
		f.issued[tok] = f.now().Add(time.Duration(f.lifetime) * time.Second)
		w.Header().Set("Content-Type", identityMediaType)
		fmt.Fprintf(w, `{"access_token":%q,"expires_in":%d,"refresh_expires_in":1800,"token_type":"bearer"}`, tok, f.lifetime)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/transactions/outlets/"+testOutlet+"/orders/"):
		f.gets++
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		exp, known := f.issued[tok]
		if !ok || !known || !f.now().Before(exp) {
			http.Error(w, `{"message":"Not Authorized"}`, http.StatusUnauthorized)
			return
		}
		if r.Header.Get("Accept") != paymentMediaType {
			http.Error(w, "not acceptable", http.StatusNotAcceptable)
			return
		}
		order, ok := f.orders[strings.TrimPrefix(r.URL.Path, "/transactions/outlets/"+testOutlet+"/orders/")]
		if !ok {
			http.Error(w, `{"message":"Not Found","code":404}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", paymentMediaType)
		fmt.Fprint(w, order)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeNGenius) counts() (tokens, gets int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens, f.gets
}

func (f *fakeNGenius) setScript(script func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = script
}

func (f *fakeNGenius) revokeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issued = map[string]time.Time{}
}

// orderJSON is an order as the API returns it, trimmed to what matters,
// with the card details it also carries.
func orderJSON(ref, action string, value int64, payments ...string) string {
	return fmt.Sprintf(`{"_id":"urn:order:%s","_links":{"self":{"href":"..."}},"action":%q,"amount":{"currencyCode":"AED","value":%d},
"reference":%q,"merchantOrderReference":"ORD-123456","outletId":%q,"createDateTime":"2024-12-01T13:20:00.000Z",
"_embedded":{"payment":[%s]}}`, ref, action, value, ref, testOutlet, strings.Join(payments, ","))
}

func paymentJSON(id, state string, captures, refunds []int64) string {
	txns := func(vs []int64) string {
		var parts []string
		for _, v := range vs {
			parts = append(parts, fmt.Sprintf(`{"state":"SUCCESS","amount":{"currencyCode":"AED","value":%d}}`, v))
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return fmt.Sprintf(`{"_id":"urn:payment:%s","state":%q,"amount":{"currencyCode":"AED","value":10000},
"paymentMethod":{"expiry":"2027-12","cardholderName":"A Card Holder","name":"VISA","pan":"411111******1111"},
"_embedded":{"cnp:capture":%s,"cnp:refund":%s}}`, id, state, txns(captures), txns(refunds))
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

type statusSetup struct {
	fake   *fakeNGenius
	client *StatusClient
	clock  *fakeClock
	sleeps *[]time.Duration
}

func setupStatus(t *testing.T, tweak func(*StatusConfig)) statusSetup {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	fake := newFake(t, clock.Now)
	var mu sync.Mutex
	sleeps := &[]time.Duration{}
	cfg := StatusConfig{
		BaseURL: fake.srv.URL + "/", APIKey: testAPIKey, OutletRef: testOutlet, Now: clock.Now,
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			*sleeps = append(*sleeps, d)
			mu.Unlock()
			return ctx.Err()
		},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	client, err := NewStatusClient(cfg)
	require.NoError(t, err)
	return statusSetup{fake: fake, client: client, clock: clock, sleeps: sleeps}
}

func names(events []providers.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Name)
	}
	return out
}

func TestStatusClientTokenIsCachedAndRenewedBeforeExpiry(t *testing.T) {
	t.Parallel()
	s := setupStatus(t, nil)
	s.fake.orders["abc123xyz"] = orderJSON("abc123xyz", "AUTH", 10000, paymentJSON("p1", "CAPTURED", []int64{10000}, nil))
	ctx := t.Context()

	events, err := s.client.FetchStatus(ctx, sm.KindPayment, "abc123xyz")
	require.NoError(t, err)
	require.Equal(t, []string{"AUTHORISED", "CAPTURED"}, names(events))
	_, err = s.client.FetchStatus(ctx, sm.KindPayment, "abc123xyz")
	require.NoError(t, err)
	tokens, gets := s.fake.counts()
	require.Equal(t, 1, tokens, "one token serves both requests")
	require.Equal(t, 2, gets)

	// 300 s tokens are renewed 30 s early: at 270 s a new one is asked for.
	s.clock.Add(269 * time.Second)
	_, err = s.client.FetchStatus(ctx, sm.KindPayment, "abc123xyz")
	require.NoError(t, err)
	tokens, _ = s.fake.counts()
	require.Equal(t, 1, tokens)
	s.clock.Add(time.Second)
	_, err = s.client.FetchStatus(ctx, sm.KindPayment, "abc123xyz")
	require.NoError(t, err)
	tokens, gets = s.fake.counts()
	require.Equal(t, 2, tokens, "renewed before it expired")
	require.Equal(t, 4, gets, "and never refused")
}

func TestStatusClientRenewsARejectedTokenOnce(t *testing.T) {
	t.Parallel()
	s := setupStatus(t, nil)
	s.fake.orders["o1"] = orderJSON("o1", "AUTH", 10000, paymentJSON("p1", "AUTHORISED", nil, nil))
	ctx := t.Context()
	_, err := s.client.FetchStatus(ctx, sm.KindPayment, "o1")
	require.NoError(t, err)

	// N-Genius forgets the token early: 401, a new token, the order.
	s.fake.revokeAll()
	events, err := s.client.FetchStatus(ctx, sm.KindPayment, "o1")
	require.NoError(t, err)
	require.Equal(t, []string{"AUTHORISED"}, names(events))
	tokens, gets := s.fake.counts()
	require.Equal(t, 2, tokens)
	require.Equal(t, 3, gets)

	// A token that is refused even fresh: one renewal, then an error,
	// never a loop.
	s.fake.setScript(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet {
			s.fake.mu.Lock()
			s.fake.gets++
			s.fake.mu.Unlock()
			http.Error(w, `{"message":"Not Authorized"}`, http.StatusUnauthorized)
			return true
		}
		return false
	})
	_, err = s.client.FetchStatus(ctx, sm.KindPayment, "o1")
	require.ErrorIs(t, err, ErrAPIAuth)
	tokens, gets = s.fake.counts()
	require.Equal(t, 3, tokens)
	require.Equal(t, 5, gets)
}

func TestStatusClientErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	t.Run("unknown order is 404", func(t *testing.T) {
		t.Parallel()
		s := setupStatus(t, nil)
		_, err := s.client.FetchStatus(ctx, sm.KindPayment, "nope")
		require.ErrorIs(t, err, providers.ErrUnknownAggregate)
		require.Empty(t, *s.sleeps, "a 404 is not retried")
	})
	t.Run("wrong API key", func(t *testing.T) {
		t.Parallel()
		s := setupStatus(t, func(c *StatusConfig) { c.APIKey = "d3JvbmctYXBpLWtleQ==" })
		_, err := s.client.FetchStatus(ctx, sm.KindPayment, "o1")
		require.ErrorIs(t, err, ErrAPIAuth)
		require.NotContains(t, err.Error(), "d3JvbmctYXBpLWtleQ==", "the key never appears in an error")
		require.Empty(t, *s.sleeps)
	})
	t.Run("other kinds", func(t *testing.T) {
		t.Parallel()
		s := setupStatus(t, nil)
		_, err := s.client.FetchStatus(ctx, sm.KindRefund, "r1")
		require.ErrorIs(t, err, providers.ErrUnsupportedKind)
	})
	t.Run("unmapped payment state", func(t *testing.T) {
		t.Parallel()
		s := setupStatus(t, nil)
		s.fake.orders["o1"] = orderJSON("o1", "AUTH", 10000, paymentJSON("p1", "SOMETHING_NEW", nil, nil))
		_, err := s.client.FetchStatus(ctx, sm.KindPayment, "o1")
		require.ErrorIs(t, err, providers.ErrUnknownStatus)
	})
}

func TestStatusClientRetries5xxWithBackoff(t *testing.T) {
	t.Parallel()
	s := setupStatus(t, func(c *StatusConfig) { c.Backoff = 100 * time.Millisecond; c.MaxAttempts = 4 })
	s.fake.orders["o1"] = orderJSON("o1", "AUTH", 10000, paymentJSON("p1", "AUTHORISED", nil, nil))
	failures := 0
	s.fake.setScript(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && failures < 2 {
			failures++
			http.Error(w, "upstream", []int{http.StatusBadGateway, http.StatusServiceUnavailable}[failures-1])
			return true
		}
		return false
	})
	events, err := s.client.FetchStatus(t.Context(), sm.KindPayment, "o1")
	require.NoError(t, err)
	require.Equal(t, []string{"AUTHORISED"}, names(events))
	require.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, *s.sleeps, "exponential backoff")

	// Always failing: MaxAttempts tries, then an error.
	*s.sleeps = nil
	s.fake.setScript(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down", http.StatusInternalServerError)
		return true
	})
	_, err = s.client.FetchStatus(t.Context(), sm.KindPayment, "o1")
	require.ErrorContains(t, err, "answered 500, 4 attempts")
	require.Len(t, *s.sleeps, 3)

	// 4xx other than 401/404 is not retried.
	*s.sleeps = nil
	s.fake.setScript(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet {
			http.Error(w, "bad", http.StatusBadRequest)
			return true
		}
		return false
	})
	_, err = s.client.FetchStatus(t.Context(), sm.KindPayment, "o1")
	require.ErrorContains(t, err, "unexpected status 400")
	require.Empty(t, *s.sleeps)
}

// firstGetTimesOut gives the first order request a short deadline; the
// fake server never answers it. Only that attempt depends on time, and it
// can only end one way, so the test does not depend on the machine's speed.
type firstGetTimesOut struct {
	mu   sync.Mutex
	done bool
}

func (f *firstGetTimesOut) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	first := r.Method == http.MethodGet && !f.done
	f.done = f.done || first
	f.mu.Unlock()
	if first {
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Millisecond)
		defer cancel()
		return http.DefaultTransport.RoundTrip(r.WithContext(ctx))
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestStatusClientTimesOutAndRetries(t *testing.T) {
	t.Parallel()
	s := setupStatus(t, func(c *StatusConfig) { c.HTTPClient = &http.Client{Transport: &firstGetTimesOut{}} })
	s.fake.orders["o1"] = orderJSON("o1", "AUTH", 10000, paymentJSON("p1", "AUTHORISED", nil, nil))
	var mu sync.Mutex
	hung := 0
	s.fake.setScript(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		first := r.Method == http.MethodGet && hung == 0
		if first {
			hung++
		}
		mu.Unlock()
		if first {
			<-r.Context().Done() // never answers: the client gives up
			return true
		}
		return false
	})
	events, err := s.client.FetchStatus(t.Context(), sm.KindPayment, "o1")
	require.NoError(t, err)
	require.Equal(t, []string{"AUTHORISED"}, names(events))
	require.Len(t, *s.sleeps, 1, "the timed-out attempt was retried once")

	// A caller's deadline ends the retries.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = s.client.FetchStatus(ctx, sm.KindPayment, "o1")
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
}

func TestPaymentStatesMapToEventsTheMachineKnows(t *testing.T) {
	t.Parallel()
	m, err := sm.Build(paymentTable)
	require.NoError(t, err)
	cases := []struct {
		name, action, state string
		captures, refunds   []int64
		events              []string
		final               sm.State
		captured, refunded  int64
	}{
		{"authorised", "AUTH", "AUTHORISED", nil, nil, []string{"AUTHORISED"}, sm.Authorized, 0, 0},
		{"in fraud review", "AUTH", "POST_AUTH_REVIEW", nil, nil, []string{"AUTHORISED", "POST_AUTH_FRAUD_CHECK_REVIEW"}, sm.FraudReview, 0, 0},
		{"captured", "SALE", "CAPTURED", []int64{10000}, nil, []string{"AUTHORISED", "CAPTURED"}, sm.Captured, 10000, 0},
		{"partially captured", "AUTH", "PARTIALLY_CAPTURED", []int64{2500, 1500}, nil, []string{"AUTHORISED", "PARTIALLY_CAPTURED"}, sm.PartiallyCaptured, 4000, 0},
		{"purchased", "PURCHASE", "PURCHASED", nil, nil, []string{"PURCHASED"}, sm.Captured, 10000, 0},
		{"failed authorisation", "AUTH", "FAILED", nil, nil, []string{"AUTHORISATION_FAILED"}, sm.Failed, 0, 0},
		{"failed purchase", "PURCHASE", "FAILED", nil, nil, []string{"PURCHASE_FAILED"}, sm.Failed, 0, 0},
		{"declined", "AUTH", "DECLINED", nil, nil, []string{"DECLINED"}, sm.Declined, 0, 0},
		{"reversed authorisation", "AUTH", "REVERSED", nil, nil, []string{"AUTHORISED", "FULL_AUTH_REVERSED"}, sm.Voided, 0, 0},
		{"reversed purchase", "PURCHASE", "REVERSED", nil, nil, []string{"PURCHASED", "PURCHASE_REVERSED"}, sm.Voided, 0, 0},
		{"partially refunded", "SALE", "PARTIALLY_REFUNDED", []int64{10000}, []int64{3000}, []string{"AUTHORISED", "CAPTURED", "PARTIALLY_REFUNDED"}, sm.PartiallyRefunded, 10000, 3000},
		{"refunded after a partial capture", "AUTH", "REFUNDED", []int64{6000}, []int64{6000}, []string{"AUTHORISED", "PARTIALLY_CAPTURED", "REFUNDED"}, sm.Refunded, 6000, 6000},
		{"purchase partially refunded", "PURCHASE", "PARTIALLY_REFUNDED", nil, []int64{1000}, []string{"PURCHASED", "PARTIALLY_REFUNDED"}, sm.PartiallyRefunded, 10000, 1000},
		{"not paid yet", "AUTH", "STARTED", nil, nil, nil, sm.StateNew, 0, 0},
		{"3-D Secure pending", "AUTH", "AWAIT_3DS", nil, nil, nil, sm.StateNew, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var o apiOrder
			require.NoError(t, json.Unmarshal([]byte(orderJSON("o1", tc.action, 10000, paymentJSON("p1", tc.state, tc.captures, tc.refunds))), &o))
			events, err := o.events("o1")
			require.NoError(t, err)
			require.Equal(t, tc.events, names(events))
			// Every event is applied in turn from a new order, and the
			// payment ends where N-Genius says it is.
			snap := sm.Snapshot{State: sm.StateNew}
			for _, e := range events {
				require.Equal(t, "o1", e.AggregateID)
				require.Equal(t, "AED", e.Currency)
				require.Equal(t, "ORD-123456", e.MerchantReference)
				require.True(t, strings.HasPrefix(e.DedupeKey, "ngenius:status:"))
				d := sm.Decide(m, snap, sm.Input{Event: e.Name, Amount: e.Amount, HasAmount: e.HasAmount, Currency: e.Currency, BodySHA256: "x"})
				require.Equal(t, sm.VerdictApplied, d.Verdict, "%s from %s: %s", e.Name, snap.State, d.Reason())
				snap = sm.Snapshot{State: d.To, Amounts: d.Amounts}
			}
			require.Equal(t, tc.final, snap.State)
			require.Equal(t, tc.captured, snap.Amounts.Captured)
			require.Equal(t, tc.refunded, snap.Amounts.Refunded)
		})
	}
}

func TestPaymentChoiceAndStableKeys(t *testing.T) {
	t.Parallel()
	// A declined attempt, then a successful one: the successful one
	// tells the story.
	raw := orderJSON("o1", "AUTH", 10000, paymentJSON("p1", "DECLINED", nil, nil), paymentJSON("p2", "AUTHORISED", nil, nil), paymentJSON("p3", "STARTED", nil, nil))
	var o apiOrder
	require.NoError(t, json.Unmarshal([]byte(raw), &o))
	first, err := o.events("o1")
	require.NoError(t, err)
	require.Equal(t, []string{"AUTHORISED"}, names(first))
	again, err := o.events("o1")
	require.NoError(t, err)
	require.Equal(t, first[0].DedupeKey, again[0].DedupeKey, "asking twice gives the same key")

	var none apiOrder
	require.NoError(t, json.Unmarshal([]byte(orderJSON("o2", "AUTH", 10000)), &none))
	events, err := none.events("o2")
	require.NoError(t, err)
	require.Empty(t, events, "an order nobody has paid yet")
}
