package console

import (
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/paystate/paystate/money"
)

// The console formats minor units with the exponents the server converts
// amounts with (package money), not with the browser's own table: the
// browser's CLDR digits differ from them for some currencies (HUF, MUR,
// AMD, ...), and an amount shown with another exponent is off by a factor
// of a hundred.
func TestCurrencyExponentsAreTheServers(t *testing.T) {
	want := map[int][]string{}
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			for c := 'A'; c <= 'Z'; c++ {
				code := string([]rune{a, b, c})
				if e, err := money.Exponent(code); err == nil {
					want[e] = append(want[e], code)
				}
			}
		}
	}
	raw, err := fs.ReadFile(static, "static/currencies.js")
	if err != nil {
		t.Fatal(err)
	}
	got := map[int][]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*(\d+): '([A-Z ]*)',?$`).FindAllStringSubmatch(string(raw), -1) {
		var e int
		fmt.Sscan(m[1], &e)
		got[e] = strings.Fields(m[2])
	}
	if len(got) != len(want) {
		t.Errorf("currencies.js has exponents for %d groups, the server %d", len(got), len(want))
	}
	for _, e := range slices.Sorted(maps.Keys(want)) {
		if !slices.Equal(got[e], want[e]) {
			t.Errorf("currencies.js, exponent %d: want\n  %d: '%s',", e, e, strings.Join(want[e], " "))
		}
	}
}
