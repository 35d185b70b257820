package reqid

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAcceptKeepsSafeIDsAndReplacesTheRest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		kept     bool
	}{
		{"uuid", "3f2b8c1e-6a7d-4c1e-9f00-0123456789ab", true},
		{"trace id", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"empty", "", false},
		{"newline injection", "abc\nlevel=ERROR msg=forged", false},
		{"space", "a b", false},
		{"quote", `a"b`, false},
		{"too long", strings.Repeat("a", MaxLen+1), false},
		{"longest", strings.Repeat("a", MaxLen), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Accept(tc.in)
			if tc.kept {
				require.Equal(t, tc.in, got)
				return
			}
			require.NotEqual(t, tc.in, got)
			require.True(t, Valid(got), "a generated id is valid")
			require.Len(t, got, 32)
		})
	}
	require.NotEqual(t, New(), New())
	for _, pan := range []string{"4111111111111111", "req-4111.1111.1111.1111", "4111_1111_1111_1111"} {
		got := Accept(pan)
		require.NotContains(t, strings.NewReplacer(".", "", "_", "", "-", "").Replace(got), "4111111111111111")
		require.Contains(t, got, "**", "masked, not replaced")
		require.Len(t, got, len(pan), "masked, not replaced")
	}
}

func TestContextAndLogHandler(t *testing.T) {
	t.Parallel()
	require.Equal(t, "", From(context.Background()))
	ctx := With(context.Background(), "req-1")
	require.Equal(t, "req-1", From(ctx))

	var buf bytes.Buffer
	log := slog.New(Handler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
	log.InfoContext(ctx, "with id")
	log.InfoContext(context.Background(), "without id")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	require.Contains(t, lines[0], `"request_id":"req-1"`)
	require.Contains(t, lines[0], `"component":"test"`)
	require.NotContains(t, lines[1], "request_id")
}

// A line that names its request id itself, or whose logger does, and is
// logged with the request's context names it once.
func TestLogHandlerNamesTheIDOnce(t *testing.T) {
	t.Parallel()
	ctx := With(context.Background(), "req-1")
	var buf bytes.Buffer
	log := slog.New(Handler(slog.NewJSONHandler(&buf, nil)))
	log.InfoContext(ctx, "in the record", "request_id", "req-1")
	log.With("request_id", "req-1").InfoContext(ctx, "in the logger")
	log.WithGroup("g").InfoContext(ctx, "grouped", "request_id", "other")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 3)
	for _, l := range lines[:2] {
		require.Equal(t, 1, strings.Count(l, `"request_id"`), l)
	}
	require.Contains(t, lines[2], `"g":{"request_id":"other","request_id":"req-1"}`, "a group's attribute is not the line's")
}
