package main

import "testing"

// A large re-evaluation reads the journal a bounded number of times: its
// pages grow with the total.
func TestReevaluatePagesGrowWithTheTotal(t *testing.T) {
	for _, c := range []struct{ total, least, want int32 }{
		{0, 500, 500},
		{2, 1, 1},
		{9_000, 500, 500},
		{1_000_000, 500, 50_000},
		{1_000_001, 500, 50_001},
	} {
		if got := pageFor(c.total, c.least); got != c.want {
			t.Errorf("pageFor(%d, %d) = %d, want %d", c.total, c.least, got, c.want)
		}
		if c.total > 0 {
			if calls := (c.total + pageFor(c.total, c.least) - 1) / pageFor(c.total, c.least); calls > reevaluatePasses+1 {
				t.Errorf("total %d: %d calls", c.total, calls)
			}
		}
	}
}
