package magnius

import "embed"

// Samples holds the documented payloads (the testdata fixtures), so that
// `paystate send` can post them the way Magnius would.
//
//go:embed testdata/*.json
var Samples embed.FS
