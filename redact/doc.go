// Package redact removes cardholder data from everything paystate stores,
// logs or serves (PCI DSS v4 requirements 3.3 to 3.5: sensitive
// authentication data is never kept after authorisation, and a primary
// account number is shown at most as its first six and last four digits).
//
// There is one masking, applied everywhere:
//
//   - Body, to a webhook body before it is stored;
//   - Text, to every other text: the fields a provider's body is parsed
//     into (event names, provider statuses, reasons), request ids, log
//     messages and log attributes (LogHandler);
//   - IDKey.ID, to the identifiers a provider uses as keys, which must stay
//     distinct and stable (see IDKey).
//
// None of them fails: whatever they are given, they return text that is
// safe to keep.
//
// # Masking
//
// A PAN is found by its value, wherever it is and whatever key it is
// under: no key is exempt. A candidate is a run of 13 to 19 digits,
// written either without separators or as groups of digits joined by runs
// of separators, several in a row or mixed ("4111 1111 1111 1111",
// "3782-822463-10005", "4111.1111.1111.1111", "4111 / 1111\t1111__1111",
// "4111–1111–1111–1111"), that passes the Luhn check. Separators are
//
//   - spaces, tabs, line breaks, '.', '/', '_' and '-';
//   - any Unicode space (category Zs: no-break, figure, narrow no-break,
//     ideographic and the other typographic spaces, which locale-aware
//     number formatting and word processors put between digit groups),
//     and the Unicode line and paragraph separators;
//   - the invisible characters: zero-width space, non-joiner and joiner
//     (U+200B to U+200D), word joiner (U+2060), byte order mark (U+FEFF)
//     and soft hyphen (U+00AD);
//   - any dash (category Pd: hyphen, en dash, em dash, fullwidth
//     hyphen-minus, ...) and the minus sign (U+2212).
//
// Digits are ASCII digits and fullwidth digits (U+FF10 to U+FF19), which
// East Asian input methods type ("４１１１　１１１１　..."); the two may
// be mixed. Digits of other scripts (Arabic-Indic, Devanagari, ...) are
// not considered.
//
// Commas, colons, semicolons and the rest of ASCII punctuation are not
// separators. They delimit values: lists and CSV ("1200,1350,..."),
// times ("2025-01-21 16:31:02", Inyo's created, would become a 14-digit
// run that passes the Luhn check one time in ten), phone numbers and
// key:value text. Joining groups across them would mask that ordinary
// data; a card number written with commas or colons is therefore not
// found.
//
// A run of digits without separators is taken whole: a 12- or 20-digit
// number is never a candidate, nor is any part of it. Within groups joined
// by separators, every span of whole consecutive groups that holds 13 to
// 19 digits is a candidate, so a PAN is found even when other numbers are
// written next to it ("ref 12 4111 1111 1111 1111"). Each candidate keeps
// its first six and last four digits; the digits between them become '*'
// (a fullwidth digit becomes the fullwidth asterisk '＊', as long in UTF-8,
// so that masking never changes a text's length), separators stay. When
// kept digits and neighbouring groups happen to form a new candidate, it
// is masked too, so the output holds no candidate at all.
//
// Track data loses everything but the number's kept digits and the
// cardholder's name: after a candidate, an '=' or 'D' followed by at least
// four digits (track 2, ";PAN=YYMMSSS...?", and its chip form) has those
// digits masked, and a '^' (track 1, "%BPAN^NAME^YYMMSSS...?") has
// everything after the name's closing '^' masked up to the end sentinel
// '?' or anything that cannot be track data.
//
// The price of finding PANs by value: about one in ten digit strings of 13
// to 19 digits passes the Luhn check, so a reference number, a long
// amount, or dates and numbers written next to each other with separators
// ("01.12.2024 10.22.45") are masked now and then. Masking only ever
// replaces digits with '*' (a masked JSON number becomes a string); it
// never removes a field. The SHA-256 of the body as received, kept beside
// it, proves what was received.
//
// # Keys
//
// A member (a form field, an XML element, a log attribute) whose key names
// sensitive authentication data is removed, key and value, at any depth.
// Keys are compared case-insensitively with everything but ASCII letters
// and digits removed ("Cvc_Code", "cvc-code" and "CVC CODE" are alike).
// A key is sensitive when it
//
//   - contains cvv, cvc, cvn, cvd or csc, or "security code", "card code",
//     "card verification" or "verification value" (cvv, CVV2, card_cvv,
//     cvv_number, cvvCode, Cvc_Code, cvn, cvd, card_code, cvc2, csc,
//     securityCode, card_verification_value), or is cid or card_cid;
//   - contains track1, track2, track3, track data, mag stripe or magnetic
//     stripe, or has the word "track" alone or followed by 1, 2, 3, one,
//     two, data or raw (track, Track-1, track_2_data, but not
//     trackingNumber or trackId);
//   - contains pin block, or has the word "pin" not followed by "code"
//     (pin, PIN, card_pin, pinBlock, but not pinCode, India's postal code,
//     nor spin or shipping);
//
// unless it also names the outcome of a check: result, resp(onse), check,
// status, match, indicator, presen(ce|t), provided, outcome or verified
// (cvvResult, cvc_check, cvvResponse, pinVerified). Processors return these
// outcomes ("M", "pass") for the merchant to act on; dropping them would
// destroy a field the merchant needs, and they never carry the code. Words
// are split at separators, between a lower-case and an upper-case letter
// and between letters and digits ("cardPIN2" is card, pin, 2).
//
// A security code under a key that does not say so ("code": "123") cannot
// be recognised: three digits are not card data by value.
//
// # Valid JSON
//
// A body that is valid JSON is walked value by value and re-encoded:
// sensitive members are removed, and every string (object keys included)
// and every number goes through Text. A number that is masked becomes a
// string ("4111111111111111" → "411111******1111"). The output is compact
// (no insignificant whitespace), object members stay in their original
// order (duplicates included), numbers keep their original text, and
// strings are escaped minimally: '"', '\\', control characters, U+2028 and
// U+2029 are escaped, HTML characters are not. The same input always gives
// the same output, and for valid JSON Body(Body(b)) equals Body(b).
//
// # Not JSON
//
// A body that is not valid JSON (truncated, form-encoded, XML, text) is
// kept byte for byte except that the value of anything that looks like a
// sensitive key is blanked ("cvv":"123" → "cvv":"", cvv=123 → cvv=,
// card[cvv]=123 → card[cvv]=, "track":{...} → "track":{},
// <cvv>123</cvv> → <cvv></cvv>; an unterminated quoted value blanks the
// rest of the body) and candidates are masked as above, JSON escapes of
// separators (\n, \t, \r, \f, \/, and \u escapes of the separators above,
// as "\u00a0" or "\u2013") counting as separators. Digits written as JSON
// escapes (\u0034) are not recognised on this path.
package redact
