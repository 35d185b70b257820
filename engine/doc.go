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
//
// Every verdict records the version of the table that decided it. When a
// table is corrected, Reevaluate runs the history of each aggregate with a
// rejected, held or recorded verdict of an older version through the
// current table, and appends, through the same single writer, an entry for
// each event whose verdict changes, pointing at the entry it revises. The
// journal is never rewritten, and since the appended entries are ordinary
// applied or rejected entries, a replay follows them like any other; an
// aggregate whose new history cannot be reached by appending (it would undo
// an applied event) is reported and left alone.
//
// For the same reason a replay (Replay, Verify, the audit, StateAt and the
// facts derivation) does not hold an applied entry an older version
// decided to today's rules: where they decide it otherwise, its verdict
// and state stand as recorded, its amount effect is worked out without
// the bounds added since (statemachine.Honour), and the entry is listed
// as honoured (Aggregates.Honoured, AuditReport.Honoured), a notice, not a
// mismatch. An entry the current version decided is re-decided exactly:
// a disagreement there is a mismatch (tampering, or a bug).
package engine
