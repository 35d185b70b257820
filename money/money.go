// Package money converts provider amounts to int64 minor units exactly.
// Providers send "75.48" or 95.5 in major units; floats would round, so
// conversion works on the decimal text with the currency's ISO 4217
// exponent (USD 2, JPY 0, BHD 3).
package money

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"golang.org/x/text/currency"
)

// ErrAmount is wrapped by every conversion error.
var ErrAmount = errors.New("invalid amount")

// Exponent returns the number of minor-unit digits of an ISO 4217 code.
func Exponent(code string) (int, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if len(code) != 3 {
		return 0, fmt.Errorf("%w: currency %q is not an ISO 4217 code", ErrAmount, code)
	}
	unit, err := currency.ParseISO(code)
	if err != nil {
		return 0, fmt.Errorf("%w: currency %q is not an ISO 4217 code", ErrAmount, code)
	}
	scale, _ := currency.Standard.Rounding(unit)
	return scale, nil
}

// ToMinor converts a non-negative decimal in major units ("75.48", "10",
// "0.5", "1e2" is refused) to minor units of code. More fraction digits
// than the currency has are refused unless they are zeros: an amount is
// never rounded.
func ToMinor(decimal, code string) (int64, error) {
	exp, err := Exponent(code)
	if err != nil {
		return 0, err
	}
	return scale(decimal, exp)
}

func scale(decimal string, exp int) (int64, error) {
	s := strings.TrimSpace(decimal)
	bad := func(why string) (int64, error) {
		return 0, fmt.Errorf("%w: %q %s", ErrAmount, decimal, why)
	}
	if s == "" {
		return bad("is empty")
	}
	if s[0] == '+' || s[0] == '-' {
		return bad("has a sign")
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") {
		return bad("is not a plain decimal")
	}
	for _, part := range []string{whole, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return bad("is not a plain decimal")
			}
		}
	}
	if len(frac) > exp {
		if strings.Trim(frac[exp:], "0") != "" {
			return bad(fmt.Sprintf("has more than %d decimal places", exp))
		}
		frac = frac[:exp]
	}
	frac += strings.Repeat("0", exp-len(frac))
	var n int64
	for _, c := range whole + frac {
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return bad("is too large")
		}
		n = n*10 + d
	}
	return n, nil
}
