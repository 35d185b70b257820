// Package reqid carries a request id from the edge of the server (an HTTP
// X-Request-Id header, gRPC x-request-id metadata, or one generated there)
// through the context into the engine and every log line of the request,
// so that one webhook or call can be followed across them.
//
// An id presented by a client is accepted only when it is short and made
// of characters that cannot break a log line; anything else is replaced by
// a generated id.
package reqid
