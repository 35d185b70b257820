//go:build !linux

package engine

import "time"

// threadCPU reports that the thread's CPU time is not measured here:
// Batch.CPU stays zero.
func threadCPU() (time.Duration, bool) { return 0, false }
