package sqlite

import "sync"

// trimThreshold is the free memory glibc's malloc keeps at the top of a
// heap before giving it back to the kernel (its default is 128 KiB).
//
// Why: SQLite empties a read connection's page cache (up to 2 MB, the
// default cache_size) at the first read after a commit changed the WAL,
// freeing every page it held, and the reads after it allocate them
// again. With glibc's default threshold the freed pages were returned to
// the kernel (the heap trimmed) and faulted back in by the next reads:
// on a store larger than the cache, with a commit before every 64 point
// reads, a read cost 14–25 µs of CPU and 0.8–0.9 page faults instead of
// 4–6 µs (BenchmarkAggregateViewAfterCommits; docs/performance.md). The
// memory kept is what SQLite's connections held at their peak (their
// page caches: 2 MB each, nine connections by default), not more: the
// threshold only stops glibc giving it back between commits.
const trimThreshold = 16 << 20

var trimOnce sync.Once

// keepFreedPages sets trimThreshold, once per process, where malloc is
// glibc's.
func keepFreedPages() { trimOnce.Do(func() { setTrimThreshold(trimThreshold) }) }
