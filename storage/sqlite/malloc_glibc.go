//go:build linux && cgo

package sqlite

/*
#include <malloc.h>

// keep_freed_memory raises glibc's trim threshold to bytes (returns 1),
// or does nothing where malloc is not glibc's (returns -1).
static int keep_freed_memory(int bytes) {
#if defined(__GLIBC__) && defined(M_TRIM_THRESHOLD)
	return mallopt(M_TRIM_THRESHOLD, bytes);
#else
	(void)bytes;
	return -1;
#endif
}
*/
import "C"

// setTrimThreshold sets glibc malloc's M_TRIM_THRESHOLD for the process:
// 1 when set, -1 when malloc is not glibc's, 0 when glibc refused it.
func setTrimThreshold(bytes int) int { return int(C.keep_freed_memory(C.int(bytes))) }
