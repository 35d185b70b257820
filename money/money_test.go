package money

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/currency"
)

func TestToMinor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, cur string
		want    int64
		bad     bool
	}{
		{"75.48", "USD", 7548, false},
		{"10", "USD", 1000, false},
		{"10.5", "usd", 1050, false},
		{"0.00", "USD", 0, false},
		{"18.00", "USD", 1800, false},
		{"95", "AED", 9500, false},
		{"1000", "JPY", 1000, false},
		{"1.234", "BHD", 1234, false},
		{"1.2300", "USD", 123, false},
		{"92233720368547758.07", "USD", 9223372036854775807, false},
		{"92233720368547758.08", "USD", 0, true},
		{"1.234", "USD", 0, true},
		{"1.5", "JPY", 0, true},
		{"-1.00", "USD", 0, true},
		{"+1.00", "USD", 0, true},
		{"1e2", "USD", 0, true},
		{"1,00", "USD", 0, true},
		{".5", "USD", 0, true},
		{"5.", "USD", 0, true},
		{"", "USD", 0, true},
		{"NaN", "USD", 0, true},
		{"1.00", "US", 0, true},
		{"1.00", "XYZ", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.in+" "+tc.cur, func(t *testing.T) {
			t.Parallel()
			got, err := ToMinor(tc.in, tc.cur)
			if tc.bad {
				require.Error(t, err)
				require.True(t, errors.Is(err, ErrAmount))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestCurrency(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"USD": "USD", "aed": "AED", " eur ": "EUR", "XTS": "XTS", "MRU": "MRU", "zwg": "ZWG"} {
		got, err := Currency(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "US", "USDD", "XXQ", "ABC", "U$D", "ＵＳＤ", "1AB", "U D"} {
		_, err := Currency(in)
		require.ErrorIs(t, err, ErrAmount, "%q", in)
	}
}

// The codes ISO added after golang.org/x/text's table are known, with
// their minor units; should a newer x/text know one, it must agree.
func TestAddedCurrencies(t *testing.T) {
	t.Parallel()
	for code, want := range addedExponent {
		e, err := Exponent(code)
		require.NoError(t, err, code)
		require.Equal(t, want, e, code)
		if unit, err := currency.ParseISO(code); err == nil {
			scale, _ := currency.Standard.Rounding(unit)
			require.Equal(t, want, scale, "%s: golang.org/x/text knows it now, with another exponent", code)
		}
	}
	got, err := ToMinor("1.2345", "UYW")
	require.NoError(t, err)
	require.Equal(t, int64(12345), got)
}

func FuzzToMinor(f *testing.F) {
	for _, s := range []string{"75.48", "0", "1.234", "99999999999999999999", "1e5", " 1.00 ", "."} {
		f.Add(s, "USD")
	}
	f.Add("1000", "JPY")
	f.Fuzz(func(t *testing.T, s, cur string) {
		n, err := ToMinor(s, cur)
		if err != nil {
			if !errors.Is(err, ErrAmount) {
				t.Fatalf("error does not wrap ErrAmount: %v", err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("negative result %d for %q", n, s)
		}
		// Round trip: the minor units written back as a decimal convert
		// to the same number.
		exp, _ := Exponent(cur)
		again, err := scale(format(n, exp), exp)
		if err != nil || again != n {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, n, format(n, exp), again, err)
		}
	})
}

func format(n int64, exp int) string {
	s := fmt.Sprintf("%0*d", exp+1, n)
	if exp == 0 {
		return s
	}
	return strings.TrimLeft(s[:len(s)-exp], "") + "." + s[len(s)-exp:]
}
