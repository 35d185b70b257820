package payengine

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/providers"
)

const (
	secretOld = "whsec-payengine-2025-old-4b1f9c"
	secretNew = "whsec-payengine-2026-new-a07d3e"
)

func sigHeader(v string) http.Header {
	h := http.Header{}
	h.Set(SignatureHeader, v)
	return h
}

// The signature is PayEngine's documented construction, computed here
// independently of Sign.
func TestSignMatchesTheDocumentedConstruction(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event_uid":"u1","event":"PAYMENT_FAILED","data":{"transaction_id":"t1"}}`)
	at := time.Unix(1616987734, 0)
	m := hmac.New(sha256.New, []byte(secretOld))
	m.Write([]byte("1616987734." + string(body)))
	want := "t=1616987734,s=" + hex.EncodeToString(m.Sum(nil))
	require.Equal(t, want, Sign(secretOld, at, body))
	require.NoError(t, New(Config{Secrets: []string{secretOld}}).Authenticate(sigHeader(want), body, at))
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	body := readFixture(t, "PAYMENT_AUTH.json")
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	ts := strconv.FormatInt(now.Unix(), 10)
	valid := Sign(secretOld, now, body)
	validNew := Sign(secretNew, now, body)
	sigOld := strings.TrimPrefix(valid, "t="+ts+",s=")
	sigNew := strings.TrimPrefix(validNew, "t="+ts+",s=")
	flipped := append([]byte(nil), body...)
	flipped[len(flipped)/2] ^= 0x01
	oneHexOff := sigOld[:63] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", sigOld[63])+1)%16])

	both := Config{Secrets: []string{secretOld, secretNew}}
	oldOnly := Config{Secrets: []string{secretOld}}
	cases := []struct {
		name   string
		cfg    Config
		header providers.Headers
		body   []byte
		now    time.Time
		ok     bool
	}{
		{"valid", oldOnly, sigHeader(valid), body, now, true},
		{"flipped body byte", oldOnly, sigHeader(valid), flipped, now, false},
		{"body with a trailing newline", oldOnly, sigHeader(valid), append(append([]byte(nil), body...), '\n'), now, false},
		{"empty body", oldOnly, sigHeader(valid), nil, now, false},
		{"wrong secret", Config{Secrets: []string{"not-the-secret"}}, sigHeader(valid), body, now, false},
		{"secret differing in one byte", Config{Secrets: []string{secretOld[:len(secretOld)-1] + "d"}}, sigHeader(valid), body, now, false},
		{"signature one hex digit off", oldOnly, sigHeader("t=" + ts + ",s=" + oneHexOff), body, now, false},
		{"signature upper-case hex", oldOnly, sigHeader("t=" + ts + ",s=" + strings.ToUpper(sigOld)), body, now, true},
		{"signature of another timestamp", oldOnly, sigHeader("t=" + strconv.FormatInt(now.Unix()+1, 10) + ",s=" + sigOld), body, now, false},
		{"timestamp with leading zero is other signed text", oldOnly, sigHeader("t=0" + ts + ",s=" + sigOld), body, now, false},

		{"missing header", oldOnly, http.Header{}, body, now, false},
		{"nil headers", oldOnly, nil, body, now, false},
		{"empty header", oldOnly, http.Header{"X-Pf-Signature": {""}}, body, now, false},
		{"blank header", oldOnly, sigHeader("  "), body, now, false},
		{"header name lower case", oldOnly, http.Header{"X-Pf-Signature": {valid}}, body, now, true},
		{"signature in another header", oldOnly, http.Header{"X-Signature": {valid}}, body, now, false},

		{"malformed: no t", oldOnly, sigHeader("s=" + sigOld), body, now, false},
		{"malformed: no s", oldOnly, sigHeader("t=" + ts), body, now, false},
		{"malformed: empty s", oldOnly, sigHeader("t=" + ts + ",s="), body, now, false},
		{"malformed: non-hex s", oldOnly, sigHeader("t=" + ts + ",s=" + strings.Repeat("zz", 32)), body, now, false},
		{"malformed: short s", oldOnly, sigHeader("t=" + ts + ",s=" + sigOld[:62]), body, now, false},
		{"malformed: long s", oldOnly, sigHeader("t=" + ts + ",s=" + sigOld + "00"), body, now, false},
		{"malformed: non-numeric t", oldOnly, sigHeader("t=yesterday,s=" + sigOld), body, now, false},
		{"malformed: negative t", oldOnly, sigHeader("t=-" + ts + ",s=" + sigOld), body, now, false},
		{"malformed: fractional t", oldOnly, sigHeader("t=" + ts + ".5,s=" + sigOld), body, now, false},
		{"malformed: t beyond int64", oldOnly, sigHeader("t=99999999999999999999,s=" + sigOld), body, now, false},
		{"malformed: two t", oldOnly, sigHeader("t=" + ts + ",t=" + ts + ",s=" + sigOld), body, now, false},
		{"malformed: one bad s beside a good one", oldOnly, sigHeader("t=" + ts + ",s=" + sigOld + ",s=xyz"), body, now, false},
		{"malformed: no pairs at all", oldOnly, sigHeader("v1 " + sigOld), body, now, false},
		{"malformed: capital prefixes are other elements", oldOnly, sigHeader("T=" + ts + ",S=" + sigOld), body, now, false},
		{"malformed: too long", oldOnly, sigHeader(valid + "," + strings.Repeat("x=y,", 2000)), body, now, false},

		{"extra parts, s first", oldOnly, sigHeader("s=" + sigOld + ",v=1,t=" + ts), body, now, true},
		{"extra parts, spaces and newline", oldOnly, sigHeader("t=" + ts + ",\n s=" + sigOld + " , scheme=hmac-sha256"), body, now, true},
		{"element without '=' is discarded", oldOnly, sigHeader("t=" + ts + ",v1,s=" + sigOld + ","), body, now, true},
		{"several signatures, one right", oldOnly, sigHeader("t=" + ts + ",s=" + strings.Repeat("ab", 32) + ",s=" + sigOld), body, now, true},

		{"rotation: old secret, both configured", both, sigHeader(valid), body, now, true},
		{"rotation: new secret, both configured", both, sigHeader(validNew), body, now, true},
		{"rotation: new secret, old only", oldOnly, sigHeader(validNew), body, now, false},
		{"rotation: both signatures presented", Config{Secrets: []string{secretNew}}, sigHeader("t=" + ts + ",s=" + sigOld + ",s=" + sigNew), body, now, true},
		{"empty configured secret is ignored", Config{Secrets: []string{"", secretOld}}, sigHeader(valid), body, now, true},

		{"no secret configured fails closed", Config{}, sigHeader(valid), body, now, false},
		{"only empty secrets configured fails closed", Config{Secrets: []string{""}}, sigHeader(Sign("", now, body)), body, now, false},

		{"skew: 299 s late accepted", oldOnly, sigHeader(valid), body, now.Add(299 * time.Second), true},
		{"skew: 300 s late accepted", oldOnly, sigHeader(valid), body, now.Add(300 * time.Second), true},
		{"skew: 301 s late rejected", oldOnly, sigHeader(valid), body, now.Add(301 * time.Second), false},
		{"skew: 299 s early accepted", oldOnly, sigHeader(valid), body, now.Add(-299 * time.Second), true},
		{"skew: 301 s early rejected", oldOnly, sigHeader(valid), body, now.Add(-301 * time.Second), false},
		{"skew: a day late rejected", oldOnly, sigHeader(valid), body, now.Add(24 * time.Hour), false},
		{"skew: configured tolerance 60 s, 61 s rejected", Config{Secrets: []string{secretOld}, Tolerance: time.Minute}, sigHeader(valid), body, now.Add(61 * time.Second), false},
		{"skew: configured tolerance 60 s, 60 s accepted", Config{Secrets: []string{secretOld}, Tolerance: time.Minute}, sigHeader(valid), body, now.Add(-60 * time.Second), true},
		{"skew: timestamp zero", oldOnly, sigHeader(Sign(secretOld, time.Unix(0, 0), body)), body, now, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := New(tc.cfg).Authenticate(tc.header, tc.body, tc.now)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.ErrorIs(t, err, providers.ErrUnauthenticated)
			require.NotErrorIs(t, err, providers.ErrMalformed)
			msg := err.Error()
			for _, s := range []string{secretOld, secretNew, sigOld, sigNew, oneHexOff, ts, "yesterday"} {
				require.NotContains(t, msg, s, "errors never contain secrets or presented values")
			}
		})
	}
}

// Authenticate checks the signature only; Parse judges the body.
func TestAuthenticateAcceptsAnySignedBody(t *testing.T) {
	t.Parallel()
	p := New(Config{Secrets: []string{secretOld}})
	now := time.Unix(1700000000, 0)
	for _, body := range [][]byte{nil, []byte("not json"), []byte(`{}`)} {
		require.NoError(t, p.Authenticate(sigHeader(Sign(secretOld, now, body)), body, now))
	}
}

func TestDefaultTolerance(t *testing.T) {
	t.Parallel()
	require.Equal(t, DefaultTolerance, New(Config{}).tolerance)
	require.Equal(t, DefaultTolerance, New(Config{Tolerance: -time.Second}).tolerance)
	require.Equal(t, time.Minute, New(Config{Tolerance: time.Minute}).tolerance)
}
