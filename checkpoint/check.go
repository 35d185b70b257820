package checkpoint

import (
	"context"
	"fmt"

	"github.com/paystate/paystate/storage"
)

// Finding is one checkpoint the journal does not hold as signed.
type Finding struct {
	Seq    int64
	Detail string
}

// Against checks checkpoints against the journal r holds: each signature
// verifies (and, when trusted is not empty, was made by the key of that
// id), the journal reaches the checkpoint's sequence, and the entry there
// has the signed hash. The hash chain itself is VerifyChain's job: with
// the chain intact up to a checkpoint, a matching hash there proves the
// whole prefix unchanged.
func Against(ctx context.Context, r storage.Reader, cps []storage.Checkpoint, trusted string) ([]Finding, error) {
	head, err := r.Head(ctx)
	if err != nil {
		return nil, err
	}
	var out []Finding
	for _, c := range cps {
		bad := func(format string, args ...any) {
			out = append(out, Finding{Seq: c.Head.Seq, Detail: fmt.Sprintf(format, args...)})
		}
		if err := Verify(c); err != nil {
			bad("%v", err)
			continue
		}
		if trusted != "" && c.KeyID != trusted {
			bad("signed by key %s, not the configured key %s", c.KeyID, trusted)
			continue
		}
		if c.Head.Seq > head.Seq {
			bad("signed at sequence %d, beyond the journal's head %d: entries were removed (the tail cut, or the database rolled back, e.g. a lost write-ahead log)", c.Head.Seq, head.Seq)
			continue
		}
		entries, err := r.Journal(ctx, nil, c.Head.Seq-1, 1)
		if err != nil {
			return nil, err
		}
		switch {
		case len(entries) == 0 || entries[0].Seq != c.Head.Seq:
			bad("entry %d, which it signed, is missing", c.Head.Seq)
		case entries[0].Hash != c.Head.Hash:
			bad("entry %d has hash %.16s…, the checkpoint signed %.16s…: the journal was rewritten up to there", c.Head.Seq, entries[0].Hash, c.Head.Hash)
		}
	}
	return out, nil
}

// Stored reads every checkpoint kept in the database.
func Stored(ctx context.Context, r storage.Reader) ([]storage.Checkpoint, error) {
	var out []storage.Checkpoint
	for after := int64(0); ; {
		page, err := r.Checkpoints(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out, nil
		}
		after = page[len(page)-1].Head.Seq
	}
}
