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
package providers
