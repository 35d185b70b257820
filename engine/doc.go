// Package engine is ingestion: it takes normalized provider events, decides
// each one's verdict with the provider's machine, and commits journal,
// state and held (deferred) events together before anyone is told.
//
// Concurrent submissions are gathered into one transaction (group commit):
// a single committer goroutine takes whatever is queued while the previous
// commit was flushing, so durable throughput grows with load instead of
// being capped by the disk's flush rate. Within a batch events are decided
// one after another, which serializes each aggregate; across processes the
// store's row locks do.
package engine
