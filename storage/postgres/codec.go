package postgres

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/internal/aggrow"
)

// ErrInvalidText is wrapped by a write whose text field PostgreSQL cannot
// store: text with a NUL byte, or bytes that are not valid UTF-8.
// PostgreSQL would reject the statement and, with it, abort the whole
// transaction; the store refuses the value first, so the transaction stays
// usable and the error names the field. A retry cannot fix it, so it does
// not wrap storage.ErrUnavailable.
var ErrInvalidText = errors.New("text contains a NUL byte or invalid UTF-8, which PostgreSQL text cannot store")

// Times are stored as unix microseconds, UTC; 0 is the zero time. This is
// the precision storage.EntryHash hashes, so an entry read back hashes
// exactly as it did when appended.
func toMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// validText reports whether PostgreSQL text can hold s unchanged.
func validText(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

func validKey(k storage.AggregateKey) bool {
	return validText(k.Provider) && validText(k.Kind) && validText(k.ID)
}

// field is a text value and the name an error should give it.
type field struct {
	name, value string
}

// checkText returns an error wrapping ErrInvalidText for the first field
// PostgreSQL text cannot hold.
func checkText(op string, fields ...field) error {
	for _, f := range fields {
		if !validText(f.value) {
			v := f.value
			if len(v) > 64 {
				v = v[:64] + "..."
			}
			return fmt.Errorf("postgres: %s: %s %q: %w", op, f.name, v, ErrInvalidText)
		}
	}
	return nil
}

func keyFields(prefix string, k storage.AggregateKey) []field {
	return []field{{prefix + "provider", k.Provider}, {prefix + "kind", k.Kind}, {prefix + "id", k.ID}}
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

type scanner interface {
	Scan(dest ...any) error
}

const aggregateColumns = aggrow.Columns

func scanAggregate(row scanner) (storage.Aggregate, error) {
	var a storage.Aggregate
	var created, updated int64
	err := row.Scan(&a.Key.Provider, &a.Key.Kind, &a.Key.ID, &a.MerchantReference,
		&a.Parent.Provider, &a.Parent.Kind, &a.Parent.ID, &a.State, &a.ProviderStatus, &a.Currency,
		&a.Amount, &a.Authorized, &a.Captured, &a.Refunded, &a.AmountsUnknown, &a.AmountKnown, &a.CapturedRest, &a.RefundedRest, &a.Version, &created, &updated)
	if err != nil {
		return storage.Aggregate{}, err
	}
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	return a, nil
}

func checkAggregate(op string, a *storage.Aggregate) error {
	fs := append(keyFields("", a.Key), keyFields("parent ", a.Parent)...)
	fs = append(fs,
		field{"merchant reference", a.MerchantReference},
		field{"state", a.State},
		field{"provider status", a.ProviderStatus},
		field{"currency", a.Currency})
	return checkText(op, fs...)
}

func aggregateArgs(a *storage.Aggregate) []any {
	return []any{a.Key.Provider, a.Key.Kind, a.Key.ID, a.MerchantReference,
		a.Parent.Provider, a.Parent.Kind, a.Parent.ID, a.State, a.ProviderStatus, a.Currency,
		a.Amount, a.Authorized, a.Captured, a.Refunded, a.AmountsUnknown, a.AmountKnown, a.CapturedRest, a.RefundedRest, a.Version,
		toMicros(a.CreatedAt), toMicros(a.UpdatedAt)}
}

const journalColumns = `seq, provider, kind, aggregate_id, event, verdict, reason,
	state_before, state_after, version_after, dedupe_key, body_sha256, redacted_body,
	payload, received_at, occurred_at, resolves_seq, skipped, actor, machine_version, revises_seq,
	prev_hash, hash`

func scanJournal(row scanner) (storage.JournalEntry, error) { return scanJournalWith(row, nil, nil) }

// scanJournalWith scans journalColumns with other columns before and
// after them (the sealer's handle and translated sequences).
func scanJournalWith(row scanner, before, after []any) (storage.JournalEntry, error) {
	var e storage.JournalEntry
	var received, occurred int64
	dest := append(before, &e.Seq, &e.Key.Provider, &e.Key.Kind, &e.Key.ID, &e.Event, &e.Verdict, &e.Reason,
		&e.StateBefore, &e.StateAfter, &e.VersionAfter, &e.DedupeKey, &e.BodySHA256, &e.RedactedBody,
		&e.Payload, &received, &occurred, &e.ResolvesSeq, &e.Skipped, &e.Actor, &e.MachineVersion, &e.RevisesSeq, &e.PrevHash, &e.Hash)
	if err := row.Scan(append(dest, after...)...); err != nil {
		return storage.JournalEntry{}, err
	}
	e.RedactedBody = nilIfEmpty(e.RedactedBody)
	e.Payload = nilIfEmpty(e.Payload)
	if len(e.Skipped) == 0 {
		e.Skipped = nil
	}
	e.ReceivedAt, e.OccurredAt = fromMicros(received), fromMicros(occurred)
	return e, nil
}

func checkEntry(op string, e *storage.JournalEntry) error {
	fs := append(keyFields("", e.Key),
		field{"event", e.Event},
		field{"verdict", e.Verdict},
		field{"reason", e.Reason},
		field{"state before", e.StateBefore},
		field{"state after", e.StateAfter},
		field{"dedupe key", e.DedupeKey},
		field{"body sha256", e.BodySHA256},
		field{"actor", e.Actor},
		field{"machine version", e.MachineVersion})
	for i, s := range e.Skipped {
		fs = append(fs, field{fmt.Sprintf("skipped[%d]", i), s})
	}
	return checkText(op, fs...)
}

// skippedArg is never NULL: the column is NOT NULL and '{}' means none.
func skippedArg(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const deferredColumns = `seq, provider, kind, aggregate_id, dedupe_key, payload,
	body_sha256, received_at, expires_at, expired_seq`

// deferredColumnsOf is deferredColumns of the table aliased d.
const deferredColumnsOf = `d.seq, d.provider, d.kind, d.aggregate_id, d.dedupe_key, d.payload,
	d.body_sha256, d.received_at, d.expires_at, d.expired_seq`

func scanDeferred(row scanner) (storage.DeferredEvent, error) {
	var d storage.DeferredEvent
	var received, expires int64
	err := row.Scan(&d.Seq, &d.Key.Provider, &d.Key.Kind, &d.Key.ID, &d.DedupeKey, &d.Payload,
		&d.BodySHA256, &received, &expires, &d.ExpiredSeq)
	if err != nil {
		return storage.DeferredEvent{}, err
	}
	d.Payload = nilIfEmpty(d.Payload)
	d.ReceivedAt, d.ExpiresAt = fromMicros(received), fromMicros(expires)
	return d, nil
}

func checkDeferred(op string, d *storage.DeferredEvent) error {
	return checkText(op, append(keyFields("", d.Key),
		field{"dedupe key", d.DedupeKey}, field{"body sha256", d.BodySHA256})...)
}
