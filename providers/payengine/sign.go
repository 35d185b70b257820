package payengine

import (
	"encoding/hex"
	"strconv"
	"time"
)

// Sign signs a body the way the provider does, for tests and the webhook
// simulator: it returns the X-PF-Signature header value
// "t=<unix seconds>,s=<hex HMAC-SHA256 of "{t}.{body}" under secret>".
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",s=" + hex.EncodeToString(mac([]byte(secret), ts, body))
}
