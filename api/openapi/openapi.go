// Package openapi embeds the OpenAPI v2 (Swagger) document describing the
// paystate REST API served by the grpc-gateway layer.
//
// The document, paystate.swagger.json, is generated from the contract in
// proto/paystate/v1 by scripts/generate.sh (protoc-gen-openapiv2 with
// allow_merge); do not edit it by hand. Field names in it are the JSON (lower
// camelCase) names of the proto fields.
package openapi

import _ "embed"

// JSON is the OpenAPI v2 document of the paystate REST API, as generated.
//
// It is shared, not copied: callers must not modify it.
//
//go:embed paystate.swagger.json
var JSON []byte
