package generic

import "embed"

// Samples holds the documented payloads (the testdata fixtures), so that
// `paystate send` can post them the way the provider would.
//
//go:embed testdata/*.json
var Samples embed.FS
