// Package money converts provider amounts to int64 minor units exactly.
// Providers send "75.48" or 95.5 in major units; floats would round, so
// conversion works on the decimal text with the currency's ISO 4217
// exponent (USD 2, JPY 0, BHD 3). It also holds the one check of a
// currency code (Currency) that every provider applies.
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

// Currency returns code as the ISO 4217 currency code it names, without
// surrounding blanks and upper-cased ("usd" is USD), or an error when it
// is not three ASCII letters that ISO 4217 lists as a currency. It is the
// one check of a currency code: every provider validates with it, so a
// code one provider refuses is refused by all, and every code it accepts
// has an exponent (Exponent).
func Currency(code string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(code))
	if !isISOShape(c) {
		return "", notISO(code)
	}
	if _, ok := addedExponent[c]; ok {
		return c, nil
	}
	if _, err := currency.ParseISO(c); err != nil {
		return "", notISO(code)
	}
	return c, nil
}

func notISO(code string) error {
	return fmt.Errorf("%w: currency %q is not an ISO 4217 code", ErrAmount, code)
}

// isISOShape reports whether c is three upper-case ASCII letters.
func isISOShape(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

// addedExponent holds the currencies in circulation that ISO 4217 added
// after the table golang.org/x/text carries was made, with their minor
// units. Without them a payment in Mauritania's or Venezuela's currency
// would be refused as malformed.
var addedExponent = map[string]int{
	"MRU": 2, // Mauritanian ouguiya, 2018
	"VES": 2, // Venezuelan bolívar soberano, 2018
	"UYW": 4, // Uruguayan unidad previsional, 2018
	"VED": 2, // Venezuelan bolívar digital, 2021
	"SLE": 2, // Sierra Leonean leone, 2022
	"ZWG": 2, // Zimbabwe Gold, 2024
	"XCG": 2, // Caribbean guilder, 2025
}

// Exponent returns the number of minor-unit digits of an ISO 4217 code.
func Exponent(code string) (int, error) {
	c, err := Currency(code)
	if err != nil {
		return 0, err
	}
	if e, ok := addedExponent[c]; ok {
		return e, nil
	}
	unit, err := currency.ParseISO(c)
	if err != nil {
		return 0, notISO(code)
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
