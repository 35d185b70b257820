package sqlite

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

// TestTrimThresholdSet: where the process runs on glibc (its libc.so.6
// mapped), the threshold Open sets is set; otherwise nothing is.
// BenchmarkAggregateViewAfterCommits shows what it saves.
func TestTrimThresholdSet(t *testing.T) {
	maps, err := os.ReadFile("/proc/self/maps")
	glibc := err == nil && runtime.GOOS == "linux" && strings.Contains(string(maps), "/libc.so.6")
	got := setTrimThreshold(trimThreshold)
	switch {
	case glibc && got != 1:
		t.Fatalf("on glibc: mallopt(M_TRIM_THRESHOLD, %d) = %d, want 1", trimThreshold, got)
	case !glibc && got != -1:
		t.Fatalf("without glibc: got %d, want -1 (nothing set)", got)
	}
}
