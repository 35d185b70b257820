package engine

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU is the CPU time the calling OS thread has used (user and
// system), from CLOCK_THREAD_CPUTIME_ID; ok is false when the clock
// cannot be read. The caller must be locked to its thread
// (runtime.LockOSThread) for two readings to bracket its own work.
func threadCPU() (d time.Duration, ok bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
