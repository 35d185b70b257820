package gctune

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, floor uint64
		base, want  int
	}{
		{live: 4 * mib, floor: 64 * mib, base: 100, want: 1501}, // goal 4 × 16.01 ≈ 64 MiB
		{live: 32 * mib, floor: 64 * mib, base: 100, want: 101},
		{live: 40 * mib, floor: 64 * mib, base: 100, want: 100}, // base already reaches the floor
		{live: 64 * mib, floor: 64 * mib, base: 100, want: 100},
		{live: 1 << 30, floor: 64 * mib, base: 100, want: 100},
		{live: 0, floor: 64 * mib, base: 100, want: 100}, // no collection yet: nothing to go on
		{live: 4 * mib, floor: 64 * mib, base: 3000, want: 3000},
	} {
		got := Percent(c.live, c.floor, c.base)
		if got != c.want {
			t.Errorf("Percent(%d, %d, %d) = %d, want %d", c.live, c.floor, c.base, got, c.want)
		}
		if c.live > 0 && c.live < c.floor {
			if goal := c.live + c.live*uint64(got)/100; goal < c.floor {
				t.Errorf("Percent(%d, %d, %d) = %d: heap goal %d is below the floor", c.live, c.floor, c.base, got, goal)
			}
		}
	}
}

func TestRunRaisesThenRestores(t *testing.T) {
	t.Setenv("GOGC", "") // Run leaves an operator's GOGC alone
	base := debug.SetGCPercent(100)
	defer debug.SetGCPercent(base)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); Run(ctx, 1<<40, time.Millisecond) }()
	runtime.GC() // so that there is a live heap to go on
	deadline := time.Now().Add(10 * time.Second)
	// A floor of a terabyte is far above this test's live heap.
	for gogc() <= 100 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not raise GOGC above the base of 100")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if p := gogc(); p != 100 {
		t.Fatalf("after Run returned GOGC is %d, want the base 100 back", p)
	}
}

func gogc() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
