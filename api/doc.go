// Package api is paystate's transport layer: the webhook HTTP handler that
// feeds the engine, the gRPC services that read the store, the REST gateway
// over them, and authentication. Nothing below this package knows HTTP or
// gRPC; everything here maps domain errors to status codes in one place.
package api
