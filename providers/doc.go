// Package providers defines what a payment provider integration is: how it
// authenticates a webhook, how it turns the verified body into normalized
// events, and which machine tables it runs. Each provider lives in a package
// of its own below this one; adding a provider touches only its folder and
// one line of the registry in cmd.
//
// Nothing here knows HTTP: a webhook is its headers and its raw body.
//
// Identifiers are bytes. encoding/json replaces invalid UTF-8 and unpaired
// surrogate escapes with U+FFFD, after which two ids that differed only
// there are one id, and CheckText, which runs on the decoded events, can no
// longer tell. So DecodeObject, which every provider decodes its body
// with, refuses a body in which such a sequence sits in a field the
// provider reads (an id, a status, a reference, a field kept raw to decode
// later): it is malformed, recorded, answered 400. The same bytes in a
// field no provider reads change nothing paystate keeps and are left in the
// body.
//
// A member read twice says two things. {"status": "AUTHORIZED", "status":
// "DECLINED"} decodes to DECLINED in encoding/json (the last wins, and
// "Status" or "\u0073tatus" name the same field), while other readers, and
// an auditor reading the stored body, may take AUTHORIZED. DecodeObject
// refuses a body in which a member a provider reads repeats in one object
// with another value: malformed, recorded, answered 400, nothing changed.
// No provider's document sends such bodies, and a signed one can only come
// from a provider fault, which a retry or a corrected delivery repairs;
// applying either value could move money that did not move. Repeats with
// the same value, or in members no provider reads, are left in the body.
// PayEngine decodes its data objects by exact name (payengine/object.go)
// and refuses an exact repeat of a member it reads in the same way.
package providers
