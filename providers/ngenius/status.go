package ngenius

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
)

// Media types of the N-Genius APIs.
const (
	identityMediaType = "application/vnd.ni-identity.v1+json"
	paymentMediaType  = "application/vnd.ni-payment.v2+json"
)

// StatusConfig is access to the N-Genius API for "retrieve order status".
type StatusConfig struct {
	// BaseURL is the API gateway of the merchant's N-Genius environment
	// (sandbox or live, per region), without a trailing path.
	BaseURL string
	// APIKey is the service account's API key from the portal; it is sent
	// as it is in "Authorization: Basic <api key>" to obtain access tokens.
	APIKey string
	// OutletRef is the outlet the orders belong to.
	OutletRef string

	// HTTPClient makes the requests; its Timeout bounds each attempt.
	// Default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// MaxAttempts bounds the tries of one request when the answer is a
	// 5xx, a 429 or no answer at all (network error, timeout). Default 3.
	MaxAttempts int
	// Backoff is the wait before the second attempt; it doubles for each
	// further one. Default 500 ms.
	Backoff time.Duration
	// Now and Sleep are the clock (tests replace them). Sleep returns
	// early with ctx's error.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// StatusClient implements providers.StatusFetcher against the N-Genius
// order API. It keeps one access token and renews it before it expires or
// when the API says it is no longer valid. It is safe for concurrent use.
type StatusClient struct {
	cfg  StatusConfig
	base *url.URL

	mu      sync.Mutex
	token   string
	expires time.Time
}

var _ providers.StatusFetcher = (*StatusClient)(nil)

// tokenMargin renews a token this long before N-Genius says it expires,
// so that a request never leaves with a token that dies on the way.
const tokenMargin = 30 * time.Second

// NewStatusClient checks cfg and returns a client.
func NewStatusClient(cfg StatusConfig) (*StatusClient, error) {
	if cfg.APIKey == "" || cfg.OutletRef == "" || cfg.BaseURL == "" {
		return nil, errors.New("ngenius: the status API needs a base URL, an API key and an outlet reference")
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("ngenius: API base URL %q is not an absolute URL", cfg.BaseURL)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	return &StatusClient{cfg: cfg, base: base}, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ErrAPIAuth: N-Genius refused the API key or the access tokens it
// issued. Retrying does not help until the configuration is fixed.
var ErrAPIAuth = errors.New("ngenius: the API refused the credentials")

// FetchStatus implements providers.StatusFetcher for payments (orders).
func (c *StatusClient) FetchStatus(ctx context.Context, kind sm.Kind, id string) ([]providers.Event, error) {
	if kind != sm.KindPayment {
		return nil, fmt.Errorf("ngenius: %w: %s", providers.ErrUnsupportedKind, kind)
	}
	o, err := c.order(ctx, id)
	if err != nil {
		return nil, err
	}
	return o.events(id)
}

// order retrieves one order; a rejected token is renewed once.
func (c *StatusClient) order(ctx context.Context, id string) (*apiOrder, error) {
	u := c.base.JoinPath("transactions", "outlets", c.cfg.OutletRef, "orders", id).String()
	for renewed := false; ; renewed = true {
		token, err := c.accessToken(ctx, renewed)
		if err != nil {
			return nil, err
		}
		status, body, err := c.do(ctx, func() (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err == nil {
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Accept", paymentMediaType)
			}
			return req, err
		})
		if err != nil {
			return nil, fmt.Errorf("ngenius: retrieving order %s: %w", id, err)
		}
		switch {
		case status == http.StatusOK:
			var o apiOrder
			if err := json.Unmarshal(body, &o); err != nil {
				return nil, fmt.Errorf("ngenius: order %s: the answer is not an order: %v", id, err)
			}
			return &o, nil
		case status == http.StatusNotFound:
			return nil, fmt.Errorf("ngenius: order %s: %w", id, providers.ErrUnknownAggregate)
		case status == http.StatusUnauthorized && !renewed:
			continue // the token was revoked or expired early: a new one, once
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return nil, fmt.Errorf("%w: order %s answered %d", ErrAPIAuth, id, status)
		default:
			return nil, fmt.Errorf("ngenius: order %s: unexpected status %d", id, status)
		}
	}
}

// accessToken returns the cached token, or requests one when there is
// none, it is about to expire, or renew says the API rejected it.
func (c *StatusClient) accessToken(ctx context.Context, renew bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	if !renew && c.token != "" && now.Before(c.expires) {
		return c.token, nil
	}
	u := c.base.JoinPath("identity", "auth", "access-token").String()
	status, body, err := c.do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, http.NoBody)
		if err == nil {
			req.Header.Set("Authorization", "Basic "+c.cfg.APIKey)
			req.Header.Set("Content-Type", identityMediaType)
			req.Header.Set("Accept", identityMediaType)
		}
		return req, err
	})
	if err != nil {
		return "", fmt.Errorf("ngenius: requesting an access token: %w", err)
	}
	switch status {
	case http.StatusOK, http.StatusCreated:
	case http.StatusUnauthorized, http.StatusForbidden:
		c.token = ""
		return "", fmt.Errorf("%w: the access token request answered %d (check providers.ngenius.api_key)", ErrAPIAuth, status)
	default:
		return "", fmt.Errorf("ngenius: the access token request answered %d", status)
	}
	var tok struct {
		AccessToken string      `json:"access_token"`
		ExpiresIn   json.Number `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return "", errors.New("ngenius: the access token answer has no access_token")
	}
	secs, err := strconv.ParseFloat(string(tok.ExpiresIn), 64)
	if err != nil || secs <= 0 {
		secs = 300 // the documented lifetime of an N-Genius access token
	}
	life := time.Duration(secs * float64(time.Second))
	c.token, c.expires = tok.AccessToken, now.Add(life-min(tokenMargin, life/2))
	return c.token, nil
}

// maxAnswer bounds what is read of an answer; an order is a few KiB.
const maxAnswer = 4 << 20

// do sends the request made by build, retrying with backoff when there is
// no answer or the answer is a 5xx or 429. It returns the last status and
// body.
func (c *StatusClient) do(ctx context.Context, build func() (*http.Request, error)) (int, []byte, error) {
	wait := c.cfg.Backoff
	for attempt := 1; ; attempt++ {
		req, err := build()
		if err != nil {
			return 0, nil, err
		}
		status, body, err := c.once(req)
		if err == nil && status < 500 && status != http.StatusTooManyRequests {
			return status, body, nil
		}
		if attempt >= c.cfg.MaxAttempts || ctx.Err() != nil {
			if err == nil {
				err = fmt.Errorf("answered %d, %d attempts", status, attempt)
			}
			return status, body, err
		}
		if err := c.cfg.Sleep(ctx, wait); err != nil {
			return 0, nil, err
		}
		wait *= 2
	}
}

func (c *StatusClient) once(req *http.Request) (int, []byte, error) {
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

// apiOrder is what paystate reads of an N-Genius order. Unknown fields are
// ignored: the order carries much more (links, card details, addresses).
type apiOrder struct {
	Reference              string     `json:"reference"`
	MerchantOrderReference string     `json:"merchantOrderReference"`
	Action                 string     `json:"action"`
	Amount                 *apiAmount `json:"amount"`
	Embedded               struct {
		Payment []apiPayment `json:"payment"`
	} `json:"_embedded"`
}

type apiPayment struct {
	ID       string     `json:"_id"`
	State    string     `json:"state"`
	Amount   *apiAmount `json:"amount"`
	Embedded struct {
		Captures []apiTxn `json:"cnp:capture"`
		Refunds  []apiTxn `json:"cnp:refund"`
	} `json:"_embedded"`
}

type apiTxn struct {
	Amount *apiAmount `json:"amount"`
}

type apiAmount struct {
	CurrencyCode string      `json:"currencyCode"`
	Value        json.Number `json:"value"`
}

// Payment states that say nothing has happened yet.
var notYet = map[string]bool{"": true, "STARTED": true, "AWAIT_3DS": true, "AWAITING_PARTIAL_AUTH_APPROVAL": true, "PENDING": true}

// Payment states of an attempt that went somewhere, preferred over failed
// attempts when an order has several.
var reached = map[string]bool{"AUTHORISED": true, "CAPTURED": true, "PARTIALLY_CAPTURED": true, "PURCHASED": true,
	"REVERSED": true, "PARTIALLY_REFUNDED": true, "REFUNDED": true, "POST_AUTH_REVIEW": true}

// events maps the order's payment state to the webhook events that lead
// to it from a new order (see StatusFetcher).
func (o *apiOrder) events(id string) ([]providers.Event, error) {
	p := o.payment()
	if p == nil || notYet[p.State] {
		return nil, nil
	}
	var cur string
	var orderValue *int64
	for _, a := range []*apiAmount{o.Amount, p.Amount} {
		if a == nil {
			continue
		}
		v, c, err := parseAmount("amount", &amount{CurrencyCode: a.CurrencyCode, Value: a.Value})
		if err != nil {
			return nil, err
		}
		if cur == "" {
			cur = c
		}
		if orderValue == nil {
			orderValue = v
		}
	}
	captured, err := total(p.Embedded.Captures)
	if err != nil {
		return nil, err
	}
	refunded, err := total(p.Embedded.Refunds)
	if err != nil {
		return nil, err
	}

	type step struct {
		name   string
		amount *int64
	}
	purchase := strings.EqualFold(o.Action, "PURCHASE")
	var authorise, capture []step
	if purchase {
		authorise = []step{{"PURCHASED", orderValue}}
	} else {
		authorise = []step{{"AUTHORISED", orderValue}}
		capture = []step{{"CAPTURED", nil}} // no amount: "the rest"
		if captured != nil && orderValue != nil && *captured < *orderValue {
			capture = []step{{"PARTIALLY_CAPTURED", captured}}
		}
	}
	var steps []step
	switch p.State {
	case "AUTHORISED":
		steps = authorise
	case "POST_AUTH_REVIEW":
		steps = slices.Concat(authorise, []step{{"POST_AUTH_FRAUD_CHECK_REVIEW", nil}})
	case "CAPTURED":
		steps = slices.Concat(authorise, []step{{"CAPTURED", nil}})
	case "PARTIALLY_CAPTURED":
		steps = slices.Concat(authorise, []step{{"PARTIALLY_CAPTURED", captured}})
	case "PURCHASED":
		steps = []step{{"PURCHASED", orderValue}}
	case "FAILED":
		steps = []step{{"AUTHORISATION_FAILED", nil}}
		if purchase {
			steps = []step{{"PURCHASE_FAILED", nil}}
		}
	case "DECLINED":
		steps = []step{{"DECLINED", nil}}
		if purchase {
			steps = []step{{"PURCHASE_DECLINED", nil}}
		}
	case "REVERSED":
		steps = slices.Concat(authorise, []step{{"FULL_AUTH_REVERSED", nil}})
		if purchase {
			steps = slices.Concat(authorise, []step{{"PURCHASE_REVERSED", nil}})
		}
	case "PARTIALLY_REFUNDED":
		steps = slices.Concat(authorise, capture, []step{{"PARTIALLY_REFUNDED", refunded}})
	case "REFUNDED":
		steps = slices.Concat(authorise, capture, []step{{"REFUNDED", nil}})
	default:
		return nil, fmt.Errorf("ngenius: order %s: payment state %q: %w", id, p.State, providers.ErrUnknownStatus)
	}
	out := make([]providers.Event, 0, len(steps))
	for _, s := range steps {
		ev := providers.Event{
			Provider: Name, Kind: sm.KindPayment, AggregateID: id,
			MerchantReference: o.MerchantOrderReference,
			Name:              s.name, ProviderStatus: p.State, Currency: cur,
		}
		amt := ""
		if s.amount != nil {
			ev.Amount, ev.HasAmount = *s.amount, true
			amt = strconv.FormatInt(*s.amount, 10)
		}
		ev.DedupeKey = Name + ":status:" + providers.HashFields(id, p.ID, s.name, amt)
		out = append(out, ev)
	}
	return out, nil
}

// payment picks the attempt that tells the order's story: the last one
// that got anywhere, else the last one.
func (o *apiOrder) payment() *apiPayment {
	ps := o.Embedded.Payment
	for i := len(ps) - 1; i >= 0; i-- {
		if reached[ps[i].State] {
			return &ps[i]
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return &ps[len(ps)-1]
}

// total sums transaction amounts; nil when none carries one.
func total(txns []apiTxn) (*int64, error) {
	var sum *int64
	for _, t := range txns {
		if t.Amount == nil {
			continue
		}
		v, _, err := parseAmount("amount", &amount{CurrencyCode: t.Amount.CurrencyCode, Value: t.Amount.Value})
		if err != nil {
			return nil, err
		}
		if v != nil {
			if sum == nil {
				sum = new(int64)
			}
			*sum += *v
		}
	}
	return sum, nil
}
