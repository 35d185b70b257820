package sqlite

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/internal/aggrow"
)

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

// encodeSkipped stores Skipped as a JSON array. JSON would silently turn
// invalid UTF-8 into U+FFFD and so change the entry's hash; such a name is
// refused instead.
func encodeSkipped(skipped []string) (string, error) {
	if len(skipped) == 0 {
		return "[]", nil
	}
	for _, s := range skipped {
		if !utf8.ValidString(s) {
			return "", fmt.Errorf("sqlite: skipped state %q is not valid UTF-8", s)
		}
	}
	b, err := json.Marshal(skipped)
	return string(b), err
}

func decodeSkipped(s string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("sqlite: journal skipped column: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
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

// appendAggregateArgs appends the values of aggregateColumns for a.
func appendAggregateArgs(args []driver.NamedValue, a *storage.Aggregate) []driver.NamedValue {
	return append(args, arg(a.Key.Provider), arg(a.Key.Kind), arg(a.Key.ID), arg(a.MerchantReference),
		arg(a.Parent.Provider), arg(a.Parent.Kind), arg(a.Parent.ID), arg(a.State), arg(a.ProviderStatus), arg(a.Currency),
		arg(a.Amount), arg(a.Authorized), arg(a.Captured), arg(a.Refunded), arg(a.AmountsUnknown), arg(a.AmountKnown), arg(a.CapturedRest),
		arg(a.RefundedRest), arg(a.Version), arg(toMicros(a.CreatedAt)), arg(toMicros(a.UpdatedAt)))
}

const journalColumns = `seq, provider, kind, aggregate_id, event, verdict, reason,
	state_before, state_after, version_after, dedupe_key, body_sha256, redacted_body,
	payload, received_at, occurred_at, resolves_seq, skipped, actor, machine_version, revises_seq,
	prev_hash, hash, layout`

func scanJournal(row scanner) (storage.JournalEntry, error) {
	var e storage.JournalEntry
	var received, occurred, layout int64
	var skipped string
	err := row.Scan(&e.Seq, &e.Key.Provider, &e.Key.Kind, &e.Key.ID, &e.Event, &e.Verdict, &e.Reason,
		&e.StateBefore, &e.StateAfter, &e.VersionAfter, hashText{&e.DedupeKey}, hashText{&e.BodySHA256}, &e.RedactedBody,
		&e.Payload, &received, &occurred, &e.ResolvesSeq, &skipped, &e.Actor, &e.MachineVersion, &e.RevisesSeq,
		hashText{&e.PrevHash}, hashText{&e.Hash}, &layout)
	if err != nil {
		return storage.JournalEntry{}, err
	}
	if e.RedactedBody, err = decodeBody(layout, e.RedactedBody); err != nil {
		return storage.JournalEntry{}, err
	}
	if e.Payload, err = decodePayload(layout, e.Payload); err != nil {
		return storage.JournalEntry{}, err
	}
	e.RedactedBody = nilIfEmpty(e.RedactedBody)
	e.Payload = nilIfEmpty(e.Payload)
	e.ReceivedAt, e.OccurredAt = fromMicros(received), fromMicros(occurred)
	if e.Skipped, err = decodeSkipped(skipped); err != nil {
		return storage.JournalEntry{}, err
	}
	return e, nil
}

// appendJournalArgs appends the values of journalColumns for n, in the
// current layout.
func appendJournalArgs(args []driver.NamedValue, n *storage.JournalEntry, skipped string) []driver.NamedValue {
	return append(args, arg(n.Seq), arg(n.Key.Provider), arg(n.Key.Kind), arg(n.Key.ID), arg(n.Event), arg(n.Verdict), arg(n.Reason),
		arg(n.StateBefore), arg(n.StateAfter), arg(n.VersionAfter), arg(hashValue(n.DedupeKey)), arg(hashValue(n.BodySHA256)), arg(storedBody(n)),
		arg(storedPayload(n)), arg(toMicros(n.ReceivedAt)), arg(toMicros(n.OccurredAt)), arg(n.ResolvesSeq), arg(skipped), arg(n.Actor),
		arg(n.MachineVersion), arg(n.RevisesSeq), arg(hashValue(n.PrevHash)), arg(hashValue(n.Hash)), arg(int64(JournalLayout)))
}

const deferredColumns = `seq, provider, kind, aggregate_id, dedupe_key, payload,
	body_sha256, received_at, expires_at, expired_seq`

func scanDeferred(row scanner) (storage.DeferredEvent, error) {
	var d storage.DeferredEvent
	var received, expires int64
	err := row.Scan(&d.Seq, &d.Key.Provider, &d.Key.Kind, &d.Key.ID, hashText{&d.DedupeKey}, &d.Payload,
		hashText{&d.BodySHA256}, &received, &expires, &d.ExpiredSeq)
	if err != nil {
		return storage.DeferredEvent{}, err
	}
	d.Payload = nilIfEmpty(d.Payload)
	d.ReceivedAt, d.ExpiresAt = fromMicros(received), fromMicros(expires)
	return d, nil
}

// StoredAggregate returns a as a read gives it back once written: times
// through the codec (unix microseconds, UTC, 0 the zero time); every
// other column holds its value as bound (TEXT and INTEGER columns, no
// trigger). The view cache refreshes the views a commit wrote with it,
// so it must stay exactly the inverse of appendAggregateArgs and
// scanAggregate (the cache's differential test reads every refreshed
// view back to prove it).
func (s *Store) StoredAggregate(a storage.Aggregate) storage.Aggregate {
	a.CreatedAt, a.UpdatedAt = fromMicros(toMicros(a.CreatedAt)), fromMicros(toMicros(a.UpdatedAt))
	return a
}
