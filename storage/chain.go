package storage

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
)

// GenesisHash is the PrevHash of the first journal entry.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// EntryHash computes the chain hash of e given the previous entry's hash.
// Every field an auditor relies on is covered, each length-prefixed so that
// no two different entries encode alike. Times are hashed in microseconds,
// the finest precision every backend keeps. MachineVersion and RevisesSeq
// are hashed after every other field, and only when either is set, so an
// entry written before they existed hashes as it did then; since every
// field is length-prefixed, an entry with them never encodes like one
// without.
func EntryHash(e *JournalEntry, prev string) string {
	// The fields are laid out in one buffer and hashed at once: the same
	// bytes as writing each to the hash in turn, without a conversion and
	// a call per field.
	n := 19*8 + len(prev) + len(e.Key.Provider) + len(e.Key.Kind) + len(e.Key.ID) + len(e.Event) +
		len(e.Verdict) + len(e.Reason) + len(e.StateBefore) + len(e.StateAfter) + len(e.DedupeKey) +
		len(e.BodySHA256) + len(e.RedactedBody) + len(e.Payload) + len(e.Actor) + len(e.MachineVersion) + 64
	for _, s := range e.Skipped {
		n += 8 + len(s)
	}
	b := make([]byte, 0, n)
	str := func(s string) {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	raw := func(p []byte) {
		b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
		b = append(b, p...)
	}
	num := func(v uint64) { b = binary.BigEndian.AppendUint64(b, v) }
	str("paystate.journal.v1")
	str(prev)
	num(uint64(e.Seq))
	str(e.Key.Provider)
	str(e.Key.Kind)
	str(e.Key.ID)
	str(e.Event)
	str(e.Verdict)
	str(e.Reason)
	str(e.StateBefore)
	str(e.StateAfter)
	num(uint64(e.VersionAfter))
	str(e.DedupeKey)
	str(e.BodySHA256)
	raw(e.RedactedBody)
	raw(e.Payload)
	num(uint64(micros(e.ReceivedAt)))
	num(uint64(micros(e.OccurredAt)))
	num(uint64(e.ResolvesSeq))
	num(uint64(len(e.Skipped)))
	for _, s := range e.Skipped {
		str(s)
	}
	str(e.Actor)
	if e.MachineVersion != "" || e.RevisesSeq != 0 {
		str(e.MachineVersion)
		num(uint64(e.RevisesSeq))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// ChainReport is the outcome of VerifyChain.
type ChainReport struct {
	OK      bool
	Checked int64
	Head    ChainHead
	// FirstBad is the sequence of the first entry that does not verify (0
	// when OK), and Problem says why.
	FirstBad int64
	Problem  string
}

// VerifyChain checks the whole journal up to the chain head read at its
// start; see VerifyRange.
func VerifyChain(ctx context.Context, r Reader) (ChainReport, error) {
	return VerifyRange(ctx, r, 0, 0)
}

// VerifyRange checks entries from..to (from 0 or 1: the first entry; to 0:
// the chain head read at the start): sequences are gap-free, every entry
// links to the one before it (the entry before from is read for the
// link), every hash matches its contents, and when the range ends at the
// head, the last entry is the stored head. Entries appended while it runs
// lie past that head and are left for the next check, so live traffic is
// never mistaken for tampering.
func VerifyRange(ctx context.Context, r Reader, from, to int64) (ChainReport, error) {
	return WalkChain(ctx, r, from, to, nil)
}

// WalkChain is VerifyRange handing every entry that verified, in order, to
// visit (when not nil), so that a caller checking what is derived from the
// journal reads it once. visit must not keep e: it is reused.
func WalkChain(ctx context.Context, r Reader, from, to int64, visit func(e *JournalEntry)) (ChainReport, error) {
	const page = 1000
	rep := ChainReport{Head: ChainHead{Hash: GenesisHash}}
	head, err := r.Head(ctx)
	if err != nil {
		return rep, err
	}
	if to == 0 {
		to = head.Seq
	}
	if from < 1 {
		from = 1
	}
	if to > head.Seq || from > to+1 {
		rep.Problem = fmt.Sprintf("range %d..%d is not within the journal (head %d)", from, to, head.Seq)
		return rep, nil
	}
	prev, after := GenesisHash, from-1
	if after > 0 {
		before, err := r.Journal(ctx, nil, after-1, 1)
		if err != nil {
			return rep, err
		}
		if len(before) == 0 || before[0].Seq != after {
			rep.FirstBad, rep.Problem = after, fmt.Sprintf("entry %d, before the range, is missing", after)
			return rep, nil
		}
		prev = before[0].Hash
		rep.Head = ChainHead{Seq: after, Hash: prev}
	}
	for after < to {
		entries, err := r.Journal(ctx, nil, after, page)
		if err != nil {
			return rep, err
		}
		if len(entries) == 0 {
			break
		}
		for i := range entries {
			e := &entries[i]
			if e.Seq > to {
				break
			}
			bad := func(format string, args ...any) (ChainReport, error) {
				rep.FirstBad = e.Seq
				rep.Problem = fmt.Sprintf(format, args...)
				return rep, nil
			}
			switch {
			case e.Seq != after+1:
				return bad("sequence %d follows %d: entries are missing", e.Seq, after)
			case e.PrevHash != prev:
				return bad("entry %d does not link to the entry before it", e.Seq)
			case EntryHash(e, prev) != e.Hash:
				return bad("entry %d was changed after it was written", e.Seq)
			}
			prev, after = e.Hash, e.Seq
			rep.Checked++
			if visit != nil {
				visit(e)
			}
			rep.Head = ChainHead{Seq: e.Seq, Hash: e.Hash}
		}
	}
	if to == head.Seq && rep.Head == head {
		past, err := PastHead(ctx, r, head)
		if err != nil {
			return rep, err
		}
		if past != 0 {
			rep.FirstBad = head.Seq + 1
			rep.Problem = pastHeadProblem(head.Seq, past)
			return rep, nil
		}
	}
	switch {
	case to == head.Seq && rep.Head != head:
		rep.FirstBad = rep.Head.Seq + 1
		rep.Problem = fmt.Sprintf("the stored head (%d) is not the last entry read (%d): entries are missing", head.Seq, rep.Head.Seq)
		return rep, nil
	case rep.Head.Seq != to:
		rep.FirstBad = rep.Head.Seq + 1
		rep.Problem = fmt.Sprintf("entries %d..%d are missing", rep.Head.Seq+1, to)
		return rep, nil
	}
	rep.OK = true
	return rep, nil
}

// PastHead returns the sequence of a journal entry that lies past head
// (read before), 0 when none does. Appending moves the head in the same
// transaction, so an entry past it is one the head was moved back behind
// unless it was appended since: the head is read again after the entry,
// and an entry it covers by then is live traffic. Appends to such a store
// fail, each new entry taking a sequence already used.
func PastHead(ctx context.Context, r Reader, head ChainHead) (int64, error) {
	next, err := r.Journal(ctx, nil, head.Seq, 1)
	if err != nil || len(next) == 0 {
		return 0, err
	}
	now, err := r.Head(ctx)
	if err != nil {
		return 0, err
	}
	if now.Seq >= next[0].Seq {
		return 0, nil
	}
	return next[0].Seq, nil
}

func pastHeadProblem(head, past int64) string {
	return fmt.Sprintf("the stored head (%d) is behind the journal: entry %d lies past it (the head was moved back; no entry is missing)", head, past)
}
