package redact

import (
	"strings"
	"testing"
)

// FuzzSensitiveKeyMatchesSearch: SensitiveKey judges every key as the
// rule did when it searched the joined key for each part in turn
// (searchedSensitiveKey, the code it replaced).
func FuzzSensitiveKeyMatchesSearch(f *testing.F) {
	for _, s := range []string{"", "c", "cvv", "xcvvx", "cardcode", "cardcod", "pinblockcvv", "trackdata2", "magstripe",
		"cvvResult", "trackingNumber", "responsecode", "verifiedBy", "pinnumbe", "Card Verification Value", "tatus",
		"PIN_BLOCK", "pinCode", "track_2", "Track-ii", "spin", "cid", "card_cid", "PIN", "a_very_long_key_name_that_is_longer_than_sixty_four_bytes_with_cvv"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, k string) {
		if got, want := SensitiveKey(k), searchedSensitiveKey(k); got != want {
			t.Fatalf("SensitiveKey(%q) = %v, searching each part says %v", k, got, want)
		}
		j := string(joinKey(nil, k))
		lists := []struct {
			parts []string
			bit   uint8
		}{{codeParts, codePart}, {trackParts, trackPart}, {pinParts, pinPart}, {outcomeParts, outcomePart},
			{[]string{"pin"}, pinWord}, {[]string{"track"}, trackWord}}
		for _, l := range lists {
			want := false
			for _, p := range l.parts {
				want = want || strings.Contains(j, p)
			}
			if got := partsIn(j)&l.bit != 0; got != want {
				t.Fatalf("%q in %q: %v, strings.Contains says %v", l.parts, j, got, want)
			}
		}
	})
}

// searchedSensitiveKey is SensitiveKey as it was before partsIn.
func searchedSensitiveKey(k string) bool {
	hasAny := func(s string, parts []string) bool {
		for _, p := range parts {
			if strings.Contains(s, p) {
				return true
			}
		}
		return false
	}
	j := string(joinKey(nil, k))
	if !mayBeSensitive(j) || hasAny(j, outcomeParts) {
		return false
	}
	if hasAny(j, codeParts) || j == "cid" || j == "cardcid" || hasAny(j, trackParts) || j == "pin" || hasAny(j, pinParts) {
		return true
	}
	if !strings.Contains(j, "pin") && !strings.Contains(j, "track") {
		return false
	}
	w := words(k)
	for i, x := range w {
		next := ""
		if i+1 < len(w) {
			next = w[i+1]
		}
		switch x {
		case "pin":
			if next != "code" {
				return true
			}
		case "track":
			switch next {
			case "", "1", "2", "3", "i", "ii", "one", "two", "data", "raw":
				return true
			}
		}
	}
	return false
}

// BenchmarkSensitiveKey judges the member names of the providers' sample
// webhooks, the keys Body meets on the ingest path.
//
//	go test -run XXX -bench SensitiveKey -benchmem ./redact/
func BenchmarkSensitiveKey(b *testing.B) {
	keys := []string{
		// N-Genius
		"eventId", "eventName", "order", "_id", "type", "merchantDefinedData", "action", "amount", "currencyCode", "value",
		"language", "merchantAttributes", "redirectUrl", "reference", "outletId", "createDateTime", "paymentMethods", "card",
		"referrer", "formattedAmount", "formattedOrderSummary", "state", "paymentMethod", "expiry", "cardholderName", "name", "pan",
		"authResponse", "authorizationCode", "success", "resultCode", "resultMessage", "mid", "rrn", "3ds", "eci", "status",
		// PayEngine
		"event_uid", "event", "data", "transaction_id", "merchant_id", "auth_response", "transactionAmount", "cardNumber",
		"cardType", "hostReferenceNumber", "approvalCode", "avsResponse", "cvvResponse", "billing_address", "street", "city", "zip",
		"created_at", "currency",
		// sensitive
		"cvv", "card_security_code", "track_2", "PIN_BLOCK",
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, k := range keys {
			SensitiveKey(k)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(keys)), "ns/key")
}
