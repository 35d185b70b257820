package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestProgressLine(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	p := newProgressTo(&buf, "checking the journal", func() time.Time { return clock })
	p.Update(1, 1000)
	require.Empty(t, buf.String(), "not before a tick has passed")
	clock = clock.Add(2 * time.Second)
	p.Update(500, 1000)
	require.Equal(t, "\rchecking the journal: 500 of 1000 (50%), 250/s, about 2s left\x1b[K", buf.String())
	clock = clock.Add(10 * time.Millisecond)
	p.Update(501, 1000)
	require.NotContains(t, buf.String(), "501", "at most one redraw a tick")
	clock = clock.Add(2 * time.Second)
	p.Update(1000, 1000)
	p.Done()
	require.True(t, strings.HasSuffix(buf.String(), "\rchecking the journal: 1000 of 1000 (100%), 249/s\x1b[K\n"), "%q", buf.String())

	// Off a terminal (a pipe, a file) there is no progress, and nil does
	// nothing.
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	require.Nil(t, progressOn(w, "x"))
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	require.NoError(t, err)
	defer f.Close()
	none := progressOn(f, "x")
	require.Nil(t, none)
	none.Update(1, 2)
	none.Done()
}

// Elapsed and Ticking: the time since the line began, for work whose
// progress the client cannot see; nil ticks nothing.
func TestProgressElapsed(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	p := newProgressTo(&buf, "re-evaluating on the server", func() time.Time { return clock })
	p.Elapsed()
	clock = clock.Add(3 * time.Second)
	p.Elapsed()
	p.Done()
	require.Equal(t, "\rre-evaluating on the server: 0s\x1b[K\rre-evaluating on the server: 3s\x1b[K\n", buf.String())
	// Ticking starts the count again, draws at once and ends the line.
	buf.Reset()
	p.Ticking()()
	require.True(t, strings.HasPrefix(buf.String(), "\rre-evaluating on the server: 0s\x1b[K"), "%q", buf.String())
	require.True(t, strings.HasSuffix(buf.String(), "\n"), "%q", buf.String())
	var none *progress
	none.Elapsed()
	none.Ticking()()
}
