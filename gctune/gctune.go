// Package gctune keeps the garbage collector from running every few
// megabytes when the live heap is small.
//
// With the default GOGC=100 the collector runs each time the heap doubles.
// paystate's live heap is a few megabytes, so under load it collected about
// a hundred times a second: about a tenth of the CPU went to marking, and
// goroutine stacks that a collection had shrunk were copied back up on the
// next request. Run raises GOGC while the live heap is below a floor, so
// that the heap may grow to the floor between collections, and lowers it
// back to the base as the live heap grows. A memory limit (GOMEMLIMIT)
// still wins: the runtime collects when the limit is near, whatever GOGC
// says.
package gctune

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// DefaultFloor is the heap size below which Run does not let a collection
// start: small next to any machine paystate would run on, and big enough
// that a collection runs every few hundred milliseconds at full load rather
// than every ten.
const DefaultFloor = 64 << 20

// Percent is the GOGC that lets a heap with live bytes grow to floor before
// the next collection, and never less than base.
func Percent(live, floor uint64, base int) int {
	if live == 0 || live >= floor {
		return base
	}
	// The heap goal is live × (1 + GOGC/100).
	p := int((floor-live)*100/live) + 1
	return max(p, base)
}

// Run adjusts GOGC every interval until ctx ends, then restores it. It
// does nothing when the operator set GOGC, or when collection is off.
func Run(ctx context.Context, floor uint64, interval time.Duration) {
	if os.Getenv("GOGC") != "" {
		return
	}
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if base < 0 {
		return
	}
	defer debug.SetGCPercent(base)
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(interval)
	defer t.Stop()
	current := base
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			if p := Percent(sample[0].Value.Uint64(), floor, base); p != current {
				debug.SetGCPercent(p)
				current = p
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
