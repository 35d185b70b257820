package payengine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/paystate/paystate/providers"
)

// strictSamples are the documented webhooks as PayEngine sends them.
func strictSamples(tb testing.TB) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no samples: %v", err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// BenchmarkParse parses the documented samples in turn, one a loop: ns/op
// and allocs/op are per webhook, averaged over the samples. "old" is the
// map-based parser Parse replaced (oldparse_test.go); "envelope" is the
// decoding of the whole body that both start with. Wall time on a busy
// machine says little; docs/performance.md counts instructions with
// callgrind instead (the command is there).
func BenchmarkParse(b *testing.B) {
	samples := strictSamples(b)
	p := New(Config{})
	for _, bc := range []struct {
		name  string
		parse func([]byte) ([]providers.Event, error)
	}{
		{"new", p.Parse},
		{"old", p.oldParse},
		// The part both share: the whole body through encoding/json.
		{"envelope", func(b []byte) ([]providers.Event, error) { _, err := decodeEnvelope(b); return nil, err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := bc.parse(samples[i%len(samples)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
