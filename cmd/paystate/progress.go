package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress draws "what: done of total (pct), rate/s, about T left" on one
// terminal line, redrawn at most every tick. It is for people: newProgress
// returns nil unless stderr is a terminal, and a nil *progress does
// nothing, so pipes and logs stay quiet.
type progress struct {
	w     io.Writer
	what  string
	now   func() time.Time
	start time.Time
	last  time.Time
	drawn bool
}

// progressTick is how often the line is redrawn.
const progressTick = 200 * time.Millisecond

// newProgress is a progress line on stderr when stderr is a terminal
// (tests replace it to see the terminal's lines).
var newProgress = func(what string) *progress { return progressOn(os.Stderr, what) }

// progressOn is a progress line on f when f is a terminal, else nil.
func progressOn(f *os.File, what string) *progress {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return newProgressTo(f, what, time.Now)
}

func newProgressTo(w io.Writer, what string, now func() time.Time) *progress {
	t := now()
	return &progress{w: w, what: what, now: now, start: t, last: t}
}

// Update reports done of total (total 0: unknown).
func (p *progress) Update(done, total int64) {
	if p == nil {
		return
	}
	t := p.now()
	if t.Sub(p.last) < progressTick && done != total {
		return
	}
	p.last = t
	p.drawn = true
	elapsed := t.Sub(p.start).Seconds()
	line := fmt.Sprintf("%s: %d", p.what, done)
	if total > 0 {
		line += fmt.Sprintf(" of %d (%d%%)", total, done*100/total)
	}
	if elapsed > 0 && done > 0 {
		rate := float64(done) / elapsed
		line += fmt.Sprintf(", %.0f/s", rate)
		if total > done {
			left := time.Duration(float64(total-done) / rate * float64(time.Second))
			line += ", about " + left.Round(time.Second).String() + " left"
		}
	}
	// \r and clear-to-end-of-line: the line is redrawn in place.
	fmt.Fprintf(p.w, "\r%s\x1b[K", line)
}

// Done ends the line, if one was drawn, so what follows starts clean.
func (p *progress) Done() {
	if p == nil || !p.drawn {
		return
	}
	fmt.Fprintln(p.w)
}

// Elapsed draws "what: 12s", the time since the line began: for work a
// server does in one call, whose progress this client cannot see.
func (p *progress) Elapsed() {
	if p == nil {
		return
	}
	p.drawn = true
	fmt.Fprintf(p.w, "\r%s: %s\x1b[K", p.what, p.now().Sub(p.start).Round(time.Second))
}

// Ticking draws Elapsed now and every second until stop, which ends the
// line. A nil *progress ticks nothing.
func (p *progress) Ticking() (stop func()) {
	if p == nil {
		return func() {}
	}
	p.start = p.now()
	p.Elapsed()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.Elapsed()
			}
		}
	}()
	return func() { close(done); wg.Wait(); p.Done() }
}
