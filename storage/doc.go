// Package storage is the contract between the engine and a database. The
// engine hands the store a function to run inside one write transaction;
// the store begins, commits, rolls back and retries, so the engine never
// sees SQL. Backends live in sub-packages (sqlite, postgres) and all pass
// the shared conformance suite in storage/storagetest.
//
// The journal is append-only and hash-chained: every entry carries the hash
// of the entry before it, computed by EntryHash, so an edited or deleted
// row is detectable by VerifyChain.
package storage
