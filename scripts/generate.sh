#!/usr/bin/env bash
# Regenerates all code derived from the API contract in proto/paystate/:
#
#   proto/paystate/**/*.pb.go       messages and enums   (protoc-gen-go)
#   proto/paystate/**/*_grpc.pb.go  gRPC stubs           (protoc-gen-go-grpc)
#   proto/paystate/**/*.pb.gw.go    REST gateway         (protoc-gen-grpc-gateway)
#   api/openapi/paystate.swagger.json  OpenAPI v2 doc    (protoc-gen-openapiv2)
#   api/openapi/paystate.openapi.json  OpenAPI 3 doc served at /openapi.json
#                                      (api/openapi/gen: converted, completed)
#
# Fully offline: buf is pinned in tools/buf/go.mod and every plugin is a `tool`
# of the root go.mod, run via `go tool`. Only the Go module cache (or proxy) is
# needed. The first run builds buf, which takes a few minutes.
#
# Usage: scripts/generate.sh   (from any directory)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$repo_root"

# Resolve tools strictly from the pinned module files, never a go.work.
export GOWORK=off

buf() {
	go tool -modfile=tools/buf/go.mod buf "$@"
}

echo "generate: buf lint, buf format check" >&2
buf lint
buf format --diff --exit-code --path proto/paystate

# Remove previous outputs first so that a renamed or deleted .proto file does
# not leave stale generated code behind. (buf.gen.yaml cannot use `clean: true`
# because the Go output directory is the proto source tree itself.)
echo "generate: removing old generated files" >&2
find proto -type f \( -name '*.pb.go' -o -name '*.pb.gw.go' \) -exec rm -f {} +
find api/openapi -type f \( -name '*.swagger.json' -o -name '*.openapi.json' \) -exec rm -f {} +

echo "generate: buf generate" >&2
buf generate

echo "generate: OpenAPI 3 document" >&2
go run ./api/openapi/gen api/openapi

echo "generate: done" >&2
