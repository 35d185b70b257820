package api

import (
	"mime"
	"strings"
)

// jsonContentType reports whether a webhook's Content-Type header allows
// a JSON body: application/json, text/json or any type with the +json
// structured-syntax suffix (application/vnd.provider+json), with or
// without parameters (charset=utf-8), in any case.
//
// A missing header is accepted. None of the five providers' documents
// promises a Content-Type, N-Genius never retries a delivery it sees
// refused, and refusing a bare POST would buy nothing: the body is
// authenticated and then parsed as strict JSON whatever its label. A
// header that names anything else (a form, XML, text) is refused with
// 415 before the body is read.
func jsonContentType(header string) bool {
	if strings.TrimSpace(header) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(header)
	if err != nil {
		return false
	}
	switch mt {
	case "application/json", "text/json":
		return true
	}
	typ, sub, ok := strings.Cut(mt, "/")
	return ok && typ != "" && typ != "*" && strings.HasSuffix(sub, "+json") && len(sub) > len("+json")
}
