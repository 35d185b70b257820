// Package providers defines what a payment provider integration is: how it
// authenticates a webhook, how it turns the verified body into normalized
// events, and which machine tables it runs. Each provider lives in a package
// of its own below this one; adding a provider touches only its folder and
// one line of the registry in cmd.
//
// Nothing here knows HTTP: a webhook is its headers and its raw body.
package providers
