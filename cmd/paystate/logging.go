package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/paystate/paystate/internal/telemetry"
	"github.com/paystate/paystate/redact"
	"github.com/paystate/paystate/reqid"
)

// newLogger builds the server's logger. format is auto (JSON unless w is a
// terminal, where people read text), json or text; level is debug, info,
// warn or error. Records logged with a context carrying a request id get
// it as request_id. Every record passes through redact.LogHandler, the
// masking everything else paystate writes gets.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	return newTracedLogger(w, format, level, false)
}

// newTracedLogger is newLogger; with traced (tracing on), records logged
// with a context carrying a span also get its trace_id and span_id. Only
// then: the layer costs every line a copy of the record (some 400
// instructions of a 20 000-instruction line), for nothing when no request
// carries a span.
func newTracedLogger(w io.Writer, format, level string, traced bool) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.TrimSpace(level))); err != nil || level == "" {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch strings.ToLower(format) {
	case "auto", "":
		if isTerminal(w) {
			h = slog.NewTextHandler(w, opts)
		} else {
			h = slog.NewJSONHandler(w, opts)
		}
	case "json":
		h = slog.NewJSONHandler(w, opts)
	case "text":
		h = slog.NewTextHandler(w, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: want auto, json or text", format)
	}
	if traced {
		// The trace ids go beneath the masking: hex, never card data,
		// they must reach the line as they are.
		h = telemetry.LogHandler(h)
	}
	return slog.New(reqid.Handler(redact.LogHandler(h))), nil
}

// isTerminal reports whether w is a character device (a terminal), without
// a dependency: what isatty does on every platform paystate runs on.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// orEnv returns v, or the environment's value of name when v is empty.
func orEnv(v string, env func(string) string, name, def string) string {
	if v != "" {
		return v
	}
	if e := env(name); e != "" {
		return e
	}
	return def
}
