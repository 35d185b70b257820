package payengine

import "embed"

// Samples holds the documented payloads as PayEngine really sends them (the
// strict-JSON rewrites of the document's samples), so that `paystate send`
// can post them signed the way PayEngine signs.
//
//go:embed testdata/*.json
var Samples embed.FS
