package storage

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"time"
)

// Sentinel errors. Backends wrap them; callers test with errors.Is.
var (
	// ErrNotFound: the thing asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the database could not be reached or the transaction
	// could not commit for a reason a retry may fix. Webhooks answer 503.
	ErrUnavailable = errors.New("storage unavailable")
	// ErrCorrupt: the database is damaged (a malformed page, a file that
	// is not a database, a corrupted index): no retry will fix it, an
	// operator must (restore, or rebuild derived tables). It never wraps
	// ErrUnavailable.
	ErrCorrupt = errors.New("database corrupted")
	// ErrReadOnly: this connection may read the store but not write it
	// (a read-only transaction or server, a login without write rights):
	// a Sealer's Seal, say, from an auditor's connection.
	ErrReadOnly = errors.New("store is read-only here")
	// ErrSchemaTooNew: the database was migrated by a newer paystate.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
)

// AggregateKey identifies an aggregate: (provider, kind, provider's id).
type AggregateKey struct {
	Provider string
	Kind     string
	ID       string
}

// Compare orders keys by (provider, kind, id) in byte order, the order of
// every listing: -1 when k sorts first, +1 when o does, 0 when equal.
func (k AggregateKey) Compare(o AggregateKey) int {
	return cmp.Or(strings.Compare(k.Provider, o.Provider), strings.Compare(k.Kind, o.Kind), strings.Compare(k.ID, o.ID))
}

// Aggregate is the current, authoritative state of one aggregate.
type Aggregate struct {
	Key               AggregateKey
	MerchantReference string
	// Parent is the zero key when the aggregate stands alone.
	Parent         AggregateKey
	State          string
	ProviderStatus string
	Currency       string
	// Amount is the aggregate's face amount (order total, refund amount,
	// chargeback amount); the others are the payment totals.
	Amount, Authorized, Captured, Refunded int64
	// AmountsUnknown says the totals are not fully known: an event moved
	// money without saying how much and its word did not imply it (see
	// statemachine.Amounts.Unknown). The totals are then what the events
	// proved, and an order service should not take them as the truth.
	AmountsUnknown bool
	// AmountKnown says an event reported Amount, so that an Amount of 0 is
	// a real zero-amount order (a card check) and not "not reported yet"
	// (statemachine.Amounts.AmountKnown).
	AmountKnown bool
	// CapturedRest and RefundedRest are the part of the captured (refunded)
	// total that captures (refunds) in full took without an amount of their
	// own, less the parts reported since (statemachine.Amounts.CapturedRest).
	CapturedRest, RefundedRest int64
	// Version counts applied events; it advances by one per applied event.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// JournalEntry is one line of the append-only journal.
type JournalEntry struct {
	// Seq is the global, gap-free journal order, assigned on append.
	Seq int64
	// Key is the aggregate concerned; Kind and ID may be empty for an event
	// with no lifecycle or a body that could not be parsed.
	Key          AggregateKey
	Event        string
	Verdict      string
	Reason       string
	StateBefore  string
	StateAfter   string
	VersionAfter int64
	DedupeKey    string
	// BodySHA256 is the hex SHA-256 of the body as received: it proves
	// receipt while RedactedBody is what is kept.
	BodySHA256   string
	RedactedBody []byte
	// Payload is the engine's own encoding of the normalized event, kept
	// so that the journal can be replayed through the machines; the store
	// keeps it opaque.
	Payload    []byte
	ReceivedAt time.Time
	OccurredAt time.Time
	// ResolvesSeq is set on the entry that resolves an earlier deferred
	// entry (applied when its predecessor landed, or rejected on expiry).
	ResolvesSeq int64
	// Skipped lists the states a status snapshot passed through.
	Skipped []string
	// Actor says who caused the entry: "webhook", "engine" (a deferred
	// event resolved), "reconciler", "admin", "reevaluation".
	Actor string
	// MachineVersion is the version of the machine table that decided the
	// entry (statemachine.Table.Version); empty for an entry no machine
	// decided (no lifecycle, malformed) and for entries written before
	// versions were recorded.
	MachineVersion string
	// RevisesSeq is set on an entry appended by a re-evaluation: the entry
	// whose verdict it revises (decided under an older MachineVersion).
	RevisesSeq int64
	// PrevHash and Hash chain the journal; both are hex SHA-256, assigned
	// on append. PrevHash of the first entry is GenesisHash.
	PrevHash string
	Hash     string
	// EncodedBody and EncodedPayload, when set, are RedactedBody and
	// Payload already in the form the store keeps them in, made before
	// the transaction by the store's Encoder. They are not part of the
	// entry: EntryHash does not read them and no read returns them. A
	// store writes one only when it is its own encoding (Format) of
	// exactly the field as it stands at Append (Of); otherwise, and in a
	// store without an Encoder, the field is encoded by Append as ever.
	EncodedBody, EncodedPayload *Encoded
}

// Encoded is a value of a journal entry (RedactedBody, Payload) in a
// store's own encoding, made by the store's Encoder.
type Encoded struct {
	// Format names the encoding: a store uses only values of its own.
	Format string
	// Of is the value encoded. The caller must not change it afterwards.
	Of []byte
	// Stored is what the store writes for Of.
	Stored []byte
}

// Encoder is implemented by a store that keeps a journal entry's
// RedactedBody and Payload in an encoding of its own (storage/sqlite
// compresses them; storage/postgres keeps them as they are and has
// none). Encoding depends on nothing but its input and may run on any
// goroutine, before the transaction: the engine encodes a delivery while
// its webhook is still being handled, off the store's single writer, and
// hands the results to Append (JournalEntry.EncodedBody,
// EncodedPayload). Encoding is an optimisation only: what a store reads
// back, and so every entry's hash, is the same whether or not a value
// was encoded beforehand.
type Encoder interface {
	EncodeBody(body []byte) *Encoded
	EncodePayload(payload []byte) *Encoded
}

// AggregateFilter selects aggregates; empty fields match everything.
type AggregateFilter struct {
	Provider, Kind, State string
	// UpdatedSince (inclusive) and UpdatedUntil (exclusive) bound UpdatedAt.
	UpdatedSince, UpdatedUntil time.Time
}

// Receipt is what the store remembers of a dedupe key.
type Receipt struct {
	Seq        int64
	BodySHA256 string
}

// DeferredEvent is an event held because it arrived before the event that
// makes it legal.
type DeferredEvent struct {
	// Seq is the journal sequence of the entry that recorded the deferral.
	Seq       int64
	Key       AggregateKey
	DedupeKey string
	// Payload is the engine's own encoding of the normalized event; the
	// store keeps it opaque.
	Payload    []byte
	BodySHA256 string
	ReceivedAt time.Time
	ExpiresAt  time.Time
	// ExpiredSeq is 0 while the event is held. Once its window passed it
	// is the entry that rejected it as expired (a handle inside a
	// transaction, as Seq is): the event stays, marked, so that its
	// predecessor landing later revives it (an entry revising that one)
	// instead of leaving the provider's fact thrown away. A marked event
	// is not pending: ExpiredDeferred and the held counts pass over it;
	// Lookup's Held and DeferredFor include it.
	ExpiredSeq int64
}

// HeldAggregate is an aggregate with the number of events held (deferred)
// for it.
type HeldAggregate struct {
	Aggregate
	Pending int
}

// AggregateView is what a read of one aggregate shows: the aggregate and
// its children, each with its held count.
type AggregateView struct {
	HeldAggregate
	// Children are the aggregates whose Parent is the aggregate, ordered
	// by (kind, id).
	Children []HeldAggregate
}

// ReceiptKey names a dedupe receipt.
type ReceiptKey struct {
	Provider, DedupeKey string
}

// Compare orders receipt keys by (provider, dedupe key) in byte order, the
// order of Reader.Receipts.
func (k ReceiptKey) Compare(o ReceiptKey) int {
	return cmp.Or(strings.Compare(k.Provider, o.Provider), strings.Compare(k.DedupeKey, o.DedupeKey))
}

// StoredReceipt is a receipt with the key it is stored under.
type StoredReceipt struct {
	Key ReceiptKey
	Receipt
}

// Lookups is what Tx.Lookup found; what it did not find is absent from
// its maps.
type Lookups struct {
	Receipts   map[ReceiptKey]Receipt
	Aggregates map[AggregateKey]Aggregate
	// Held has the keys for which at least one event is held (Defer),
	// whether or not the aggregate exists yet, an expired one waiting to
	// be revived (DeferredEvent.ExpiredSeq) included.
	Held map[AggregateKey]bool
}

// ChainHead is the last journal entry's sequence and hash; an auditor who
// holds it can later prove that nothing up to it was changed.
type ChainHead struct {
	Seq  int64
	Hash string
}

// Checkpoint is a chain head signed with paystate's checkpoint key (kept
// outside the database; package checkpoint signs and checks them). The
// store keeps it as given.
type Checkpoint struct {
	Head     ChainHead
	SignedAt time.Time
	// KeyID names the key (a prefix of its public key's SHA-256, hex).
	KeyID     string
	PublicKey []byte
	Signature []byte
	// TreeRoot, when set, is the root (hex) of the Merkle tree over the
	// hashes of entries 1..Head.Seq, also signed.
	TreeRoot string
}

// Store is a paystate database.
type Store interface {
	Reader
	// Update runs fn inside one write transaction and commits it. If fn
	// returns an error the transaction is rolled back and that error is
	// returned. Update may run fn more than once when the database asks for
	// a retry (busy, serialization failure, deadlock), so fn must not have
	// side effects outside tx. A failure to begin or commit wraps
	// ErrUnavailable. When Update returns nil the transaction is durable.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// Close releases the database.
	Close() error
}

// Tx is the write side, valid only inside Update, and only from the
// goroutine running fn. After a Tx method fails with anything but
// ErrNotFound, fn must return an error: some databases (PostgreSQL) abort
// the transaction at its first failed statement.
//
// A store may hold the rows of Append, PutReceipt and PutAggregate until
// the transaction's next other call or its commit, to write many rows in
// one statement (SQLite does): a row the database refuses (a duplicate
// receipt) then fails that later call, or Update, and nothing of the
// transaction is committed. Every read sees the transaction's own writes.
//
// Strings must be valid UTF-8 without NUL bytes (PostgreSQL text cannot
// hold them); the engine refuses such events before they reach a Tx.
type Tx interface {
	// LockAggregate returns the aggregate and holds it for this
	// transaction (a row lock where the database has one), or ErrNotFound.
	// Concurrent writers of the same aggregate are serialized by it.
	LockAggregate(ctx context.Context, key AggregateKey) (Aggregate, error)
	// Lookup answers at once, for many keys, what Receipt, LockAggregate
	// and a non-empty DeferredFor would (what deciding a batch of events
	// reads), and holds the aggregates it finds as LockAggregate does.
	// Keys may repeat.
	Lookup(ctx context.Context, receipts []ReceiptKey, aggregates []AggregateKey) (Lookups, error)
	// PutAggregate inserts or replaces the aggregate.
	PutAggregate(ctx context.Context, a Aggregate) error
	// Receipt returns what was recorded for (provider, dedupeKey), or
	// ErrNotFound.
	Receipt(ctx context.Context, provider, dedupeKey string) (Receipt, error)
	// PutReceipt records a dedupe key; a second receipt for the same
	// (provider, dedupeKey) is an error, returned by PutReceipt or, by a
	// backend that sends such writes together with the next statement
	// (PostgreSQL) or holds them until then (SQLite), by a later call, or
	// by Update.
	PutReceipt(ctx context.Context, provider, dedupeKey string, r Receipt) error
	// Append assigns e.Seq, e.PrevHash and e.Hash (with EntryHash), and
	// appends e to the journal. The sequence is gap-free and global.
	//
	// A store that seals entries after they commit (a Sealer: PostgreSQL,
	// so that writers of different aggregates do not wait for one
	// another) instead gives e a handle, a negative number (IsHandle),
	// and sets PrevHash and Hash to "": the handle may be used inside the
	// transaction wherever a sequence is (a receipt, a held event,
	// ResolvesSeq, RevisesSeq), and stays where it was written — the
	// store translates it for readers once the entry is sealed. Once
	// Update has returned nil the entry is durable but unsealed: e.Seq is
	// 0 (its place is not known yet), it is not in Journal, and a later
	// Sealer.Seal gives it its sequence and hashes.
	//
	// Receipts name the entry's sequence once it is sealed, its handle
	// until then, inside a transaction as outside. Held events read inside
	// a transaction (DeferredFor, ExpiredDeferred) carry the value
	// written, the handle, sealed or not — which no concurrent seal
	// changes while the transaction runs, and which Undefer and
	// ResolvesSeq take; the Reader's Deferred and ExpiredDeferred carry
	// the sequence once sealed.
	Append(ctx context.Context, e *JournalEntry) error
	// Defer holds an event until it becomes legal or expires.
	Defer(ctx context.Context, d DeferredEvent) error
	// DeferredFor returns the events held for key, oldest first, the
	// expired ones waiting to be revived (ExpiredSeq) among them.
	DeferredFor(ctx context.Context, key AggregateKey) ([]DeferredEvent, error)
	// ExpiredDeferred is Reader.ExpiredDeferred as this transaction sees
	// it: what a writer that resolves expired events must read, since the
	// Reader answers from another connection and snapshot.
	ExpiredDeferred(ctx context.Context, now time.Time, limit int) ([]DeferredEvent, error)
	// Undefer removes a held event once it has been resolved.
	Undefer(ctx context.Context, seq int64) error
	// DeleteAggregate removes an aggregate, or returns ErrNotFound. Only a
	// repair from the journal (rebuild --fix) removes aggregates: one no
	// journal entry explains.
	DeleteAggregate(ctx context.Context, key AggregateKey) error
	// DeleteReceipt removes a receipt, or returns ErrNotFound. Only a
	// repair from the journal removes receipts.
	DeleteReceipt(ctx context.Context, key ReceiptKey) error
	// PutCheckpoint stores a signed checkpoint; one already stored for the
	// same sequence is kept and c ignored (two replicas may sign one head),
	// unless c signs a tree root (TreeRoot) the stored one lacks.
	PutCheckpoint(ctx context.Context, c Checkpoint) error
	// Touch rewrites the chain head as it stands: a write that changes
	// nothing, so that committing it proves the database can commit (the
	// engine's readiness probe after a failed commit; a full disk fails
	// it). The commit must reach the disk: a backend that skips writing
	// an unchanged row must make the row change and change back. It must
	// also wait for whatever would keep a webhook's writes from
	// committing: a backend whose locks are per table (PostgreSQL) takes
	// the write locks of the tables an ingest writes.
	Touch(ctx context.Context) error
}

// Reader is the read side. Reads never wait behind the writer.
type Reader interface {
	// Aggregate returns the aggregate or ErrNotFound.
	Aggregate(ctx context.Context, key AggregateKey) (Aggregate, error)
	// AggregateView returns the aggregate, its children and their held
	// counts, all read from one committed snapshot, or ErrNotFound when
	// the aggregate does not exist (whatever names it as parent).
	AggregateView(ctx context.Context, key AggregateKey) (AggregateView, error)
	// AggregatesByReference returns every aggregate carrying the merchant
	// reference, ordered by (provider, kind, id).
	AggregatesByReference(ctx context.Context, ref string) ([]Aggregate, error)
	// Children returns the aggregates whose Parent is parent, ordered by
	// (kind, id).
	Children(ctx context.Context, parent AggregateKey) ([]Aggregate, error)
	// ListAggregates returns up to limit aggregates matching f whose key
	// sorts after the cursor after (the zero key starts from the
	// beginning), ordered by (provider, kind, id) in byte order, each with
	// its held count (read in the same statement: a listing page is one
	// query, not one per row). A State is searched through its index only
	// together with a Kind; without one the backends walk every aggregate
	// until the page is full, so callers that know the kinds ask per kind
	// and merge (the API does).
	ListAggregates(ctx context.Context, f AggregateFilter, after AggregateKey, limit int) ([]HeldAggregate, error)
	// Journal returns up to limit entries with Seq > after, in order. When
	// key is non-nil only that aggregate's entries are returned.
	Journal(ctx context.Context, key *AggregateKey, after int64, limit int) ([]JournalEntry, error)
	// ReplayJournal is Journal reading only what a replay needs: Seq, Key,
	// Verdict, StateBefore, StateAfter, Payload and ReceivedAt. Every other
	// field is left zero.
	ReplayJournal(ctx context.Context, key *AggregateKey, after int64, limit int) ([]JournalEntry, error)
	// Head returns the chain head; Seq 0 and GenesisHash when empty.
	Head(ctx context.Context) (ChainHead, error)
	// PendingDeferred counts events held for key, not those expired
	// (ExpiredSeq); so do the held counts of AggregateView and
	// ListAggregates.
	PendingDeferred(ctx context.Context, key AggregateKey) (int, error)
	// ExpiredDeferred returns up to limit held events whose ExpiresAt is
	// not after now and that are not marked expired yet (ExpiredSeq 0),
	// oldest first.
	ExpiredDeferred(ctx context.Context, now time.Time, limit int) ([]DeferredEvent, error)
	// Receipts returns up to limit receipts whose key sorts after after
	// (the zero key starts from the beginning), in ReceiptKey.Compare
	// order. Verify reads the whole table through it.
	Receipts(ctx context.Context, after ReceiptKey, limit int) ([]StoredReceipt, error)
	// Deferred returns up to limit held events with Seq > after, by Seq,
	// the expired ones waiting to be revived included (ExpiredSeq the
	// sequence of the entry that expired them once it is sealed).
	Deferred(ctx context.Context, after int64, limit int) ([]DeferredEvent, error)
	// Checkpoints returns up to limit signed checkpoints with Head.Seq >
	// after, by sequence.
	Checkpoints(ctx context.Context, after int64, limit int) ([]Checkpoint, error)
	// LatestCheckpoint returns the checkpoint of the highest sequence, or
	// ErrNotFound when none was signed.
	LatestCheckpoint(ctx context.Context) (Checkpoint, error)
}

// Sealer is a Store that chains its entries after they commit
// (docs/postgres-sealer.md). An entry Update committed is durable and
// everything derived from it (its aggregate, receipt, held event) is
// visible at once, but it has no place in the chain until a Seal gives it
// one: it is not in Journal, under any checkpoint, or in Head. Seal is
// safe from any process at any time; sealers take turns.
type Sealer interface {
	// Unsealed counts the committed entries not sealed yet; only key's
	// when key is not nil.
	Unsealed(ctx context.Context, key *AggregateKey) (int64, error)
	// Seal gives committed unsealed entries the next sequences, in an
	// order that respects every causality between their transactions
	// (an aggregate's entries in the order of their versions, a held
	// event's deferral before its resolution), links and hashes them and
	// moves the head; it returns how many it sealed. Every entry
	// committed before Seal was called is sealed when it returns nil (in
	// rounds of a bounded size, each one transaction). It fails with
	// ErrReadOnly when this connection may not write (an auditor's).
	Seal(ctx context.Context) (int, error)
}

// IsHandle reports whether seq is an unsealed entry's handle (a Sealer's
// Append) rather than a sequence.
func IsHandle(seq int64) bool { return seq < 0 }

// Unwrapper is a Store wrapping another (a timeout, fault injection): the
// wrapped store's optional interfaces (Sealer) are found through it.
type Unwrapper interface {
	Unwrap() Store
}

// AsSealer returns the Sealer s is, or wraps; ok is false for a store
// that chains at commit (SQLite).
func AsSealer(s any) (Sealer, bool) {
	for {
		if se, ok := s.(Sealer); ok {
			return se, true
		}
		u, ok := s.(Unwrapper)
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
}

// SealAll seals every entry committed before it was called, when s is (or
// wraps) a Sealer; otherwise it does nothing. Tools that need the journal
// to show every acknowledged entry (rebuild --fix, re-evaluation, the
// conformance suite) call it first.
func SealAll(ctx context.Context, s any) error {
	se, ok := AsSealer(s)
	if !ok {
		return nil
	}
	_, err := se.Seal(ctx)
	return err
}

// FactsDeriver is a store whose migration left facts of the stored
// aggregates to be derived from the journal, and marked them pending: the
// facts a row cannot tell (Aggregate.AmountKnown of a zero amount,
// CapturedRest, RefundedRest: SQLite 0011/0012, PostgreSQL 0009/0010,
// marked by SQLite 0013, PostgreSQL 0011), and every column a release's
// rules may derive differently from the same verdicts (the provider
// status, the face amount, the totals: marked by SQLite 0014 and 0015,
// PostgreSQL 0012 and 0013, for statemachine.Rules 12 and 13).
// engine.DeriveFacts derives them.
type FactsDeriver interface {
	// FactsPending reports whether the derivation is still to do.
	FactsPending(ctx context.Context) (bool, error)
	// SetFacts writes the derived columns of each aggregate
	// (ProviderStatus, Amount, AmountKnown, Authorized, Captured,
	// Refunded, AmountsUnknown, CapturedRest, RefundedRest), in one
	// transaction, where its stored Version is still the one given: a row
	// a writer moved since keeps its own.
	SetFacts(ctx context.Context, facts []Aggregate) error
	// FactsDerived records the derivation done (FactsPending false).
	FactsDerived(ctx context.Context) error
}

// AsFactsDeriver returns the FactsDeriver s is, or wraps.
func AsFactsDeriver(s any) (FactsDeriver, bool) {
	for {
		if d, ok := s.(FactsDeriver); ok {
			return d, true
		}
		u, ok := s.(Unwrapper)
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
}

// MigrationStatus is one schema migration as `paystate migrate status`
// shows it: known to this binary, recorded by the database, or both.
type MigrationStatus struct {
	Version int
	Name    string
	// AppliedAt is when the database recorded it; zero while pending.
	AppliedAt time.Time
	// Unknown: the database recorded it but this binary does not know it
	// (a newer paystate migrated the database).
	Unknown bool
}
