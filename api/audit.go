package api

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paystate/paystate/checkpoint"
	"github.com/paystate/paystate/engine"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/redact"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// Page size bounds for journal listings.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// Audit serves paystate.v1.AuditService: the journal, its hash chain and
// the tables derived from it.
type Audit struct {
	pb.UnimplementedAuditServiceServer
	Store storage.Reader
	// Machines replay the journal when VerifyJournal checks the
	// aggregates; nil checks only the chain.
	Machines *sm.Registry
	// CheckpointKeyID is the id of the key this server signs checkpoints
	// with: a stored checkpoint signed by another key is reported. Empty
	// accepts any key whose signature verifies.
	CheckpointKeyID string
	Log             *slog.Logger
	// IDKey masks the ids asked for as the engine masked them (Options).
	IDKey redact.IDKey
}

// ListOrderEvents pages through one order's journal entries in order.
func (s *Audit) ListOrderEvents(ctx context.Context, req *pb.ListOrderEventsRequest) (*pb.ListOrderEventsResponse, error) {
	if req.GetProvider() == "" || req.GetOrderId() == "" {
		return nil, status.Error(codes.InvalidArgument, "provider and order_id are required")
	}
	key := storage.AggregateKey{Provider: req.GetProvider(), Kind: string(sm.KindPayment), ID: s.IDKey.ID(req.GetOrderId())}
	entries, next, err := journalPage(ctx, s.Store, key, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, toStatus(ctx, s.log(), noEvents(s.Machines, key.Provider, err))
	}
	return &pb.ListOrderEventsResponse{Entries: entries, NextPageToken: next}, nil
}

// journalPage returns one page of key's journal and the token of the next.
func journalPage(ctx context.Context, r storage.Reader, key storage.AggregateKey, pageSize int32, token string) ([]*pb.JournalEntry, string, error) {
	size := int(pageSize)
	switch {
	case size < 0:
		return nil, "", status.Error(codes.InvalidArgument, "page_size must not be negative")
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	after, err := parsePageToken(token)
	if err != nil {
		return nil, "", err
	}
	// One extra row tells whether another page exists.
	entries, err := r.Journal(ctx, &key, after, size+1)
	if err != nil {
		return nil, "", err
	}
	if len(entries) == 0 && after == 0 {
		return nil, "", status.Error(codes.NotFound, "no events for this aggregate")
	}
	var next string
	if len(entries) > size {
		entries = entries[:size]
		next = pageToken(entries[size-1].Seq)
	}
	out := make([]*pb.JournalEntry, len(entries))
	for i, e := range entries {
		out[i] = toEntry(e, true)
	}
	return out, next, nil
}

// GetEvent returns one journal entry with its redacted body.
func (s *Audit) GetEvent(ctx context.Context, req *pb.GetEventRequest) (*pb.JournalEntry, error) {
	if req.GetSequence() <= 0 {
		return nil, status.Error(codes.InvalidArgument, "sequence must be positive")
	}
	entries, err := s.Store.Journal(ctx, nil, req.GetSequence()-1, 1)
	if err != nil {
		return nil, toStatus(ctx, s.log(), err)
	}
	if len(entries) == 0 || entries[0].Seq != req.GetSequence() {
		return nil, status.Errorf(codes.NotFound, "no journal entry %d", req.GetSequence())
	}
	return toEntry(entries[0], true), nil
}

// GetChainHead returns the journal's last sequence and hash, and the
// newest signed checkpoint.
func (s *Audit) GetChainHead(ctx context.Context, _ *pb.GetChainHeadRequest) (*pb.ChainHead, error) {
	h, err := s.Store.Head(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.log(), err)
	}
	out := &pb.ChainHead{Sequence: h.Seq, Hash: h.Hash}
	switch cp, err := s.Store.LatestCheckpoint(ctx); {
	case err == nil:
		out.Checkpoint = ToSignedCheckpoint(cp)
	case !errors.Is(err, storage.ErrNotFound):
		return nil, toStatus(ctx, s.log(), err)
	}
	return out, nil
}

// maxTableProblems bounds the problems one VerifyJournal answer lists.
const maxTableProblems = 1000

// VerifyJournal recomputes the hash chain and, over the whole journal,
// checks every derived table against it (engine.Audit). On a store that
// seals after commit it also counts the entries acknowledged and not
// sealed yet, which no check covers.
func (s *Audit) VerifyJournal(ctx context.Context, req *pb.VerifyJournalRequest) (*pb.VerifyJournalResponse, error) {
	out, err := s.verifyJournal(ctx, req)
	if err != nil {
		return nil, err
	}
	if se, ok := storage.AsSealer(s.Store); ok {
		if out.UnsealedEntries, err = se.Unsealed(ctx, nil); err != nil {
			return nil, toStatus(ctx, s.log(), err)
		}
	}
	return out, nil
}

func (s *Audit) verifyJournal(ctx context.Context, req *pb.VerifyJournalRequest) (*pb.VerifyJournalResponse, error) {
	if req.GetFromSequence() < 0 || req.GetToSequence() < 0 {
		return nil, status.Error(codes.InvalidArgument, "sequences must not be negative")
	}
	whole := req.GetFromSequence() <= 1 && req.GetToSequence() == 0
	given := make([]storage.Checkpoint, len(req.GetCheckpoints()))
	for i, c := range req.GetCheckpoints() {
		given[i] = FromSignedCheckpoint(c)
	}
	if len(given) > 0 && !whole {
		return nil, status.Error(codes.InvalidArgument, "checkpoints are checked against the whole journal: leave from_sequence and to_sequence unset")
	}
	var out *pb.VerifyJournalResponse
	var problems []*pb.TableProblem
	if !whole || req.GetChainOnly() || s.Machines == nil {
		rep, err := storage.VerifyRange(ctx, s.Store, req.GetFromSequence(), req.GetToSequence())
		if err != nil {
			return nil, toStatus(ctx, s.log(), err)
		}
		if out = chainResponse(rep); !whole || !rep.OK {
			return out, nil
		}
	} else {
		rep, err := engine.Audit(ctx, s.Store, s.Machines, engine.AuditConfig{})
		if err != nil {
			return nil, toStatus(ctx, s.log(), err)
		}
		if out = chainResponse(rep.Chain); !rep.Chain.OK {
			return out, nil
		}
		out.DerivedTables = &pb.DerivedTables{Receipts: int64(rep.Receipts), HeldEvents: int64(rep.Deferred),
			Aggregates: int64(rep.Aggregates), ProblemCount: int64(len(rep.Problems))}
		for _, p := range rep.Problems {
			problems = append(problems, &pb.TableProblem{Table: p.Table, Row: p.Row,
				Sequence: p.Seq, Problem: p.Detail, Fixable: p.Fixable()})
		}
		for _, n := range rep.Honoured[:min(len(rep.Honoured), maxTableProblems)] {
			out.Notices = append(out.Notices, &pb.TableProblem{Table: n.Table, Row: n.Row, Sequence: n.Seq, Problem: n.Detail})
		}
	}
	// With the chain intact up to each checkpoint, its hash matching
	// proves the prefix unchanged; those stored must also be this
	// server's key's.
	stored, err := checkpoint.Stored(ctx, s.Store)
	if err != nil {
		return nil, toStatus(ctx, s.log(), err)
	}
	for _, set := range []struct {
		cps     []storage.Checkpoint
		trusted string
		// head: the set the head names its newest verified of (the
		// server's own, as GetChainHead; those given the auditor has).
		head bool
	}{{given, "", false}, {stored, s.CheckpointKeyID, true}} {
		found, err := checkpoint.Against(ctx, s.Store, set.cps, set.trusted)
		if err != nil {
			return nil, toStatus(ctx, s.log(), err)
		}
		out.CheckpointsChecked += int64(len(set.cps))
		for _, f := range found {
			problems = append(problems, &pb.TableProblem{Table: "checkpoints", Row: strconv.FormatInt(f.Seq, 10),
				Sequence: f.Seq, Problem: f.Detail})
		}
		if set.head {
			out.Head.Checkpoint = newestVerified(stored, found, out.Head.GetSequence())
		}
	}
	if len(problems) > 0 {
		out.Ok, out.FirstBadSequence = false, problems[0].GetSequence()
		out.Problem = problems[0].GetTable() + " " + problems[0].GetRow() + ": " + problems[0].GetProblem()
	}
	if out.DerivedTables != nil {
		out.DerivedTables.ProblemCount = int64(len(problems))
	}

	out.TableProblems = problems[:min(len(problems), maxTableProblems)]
	return out, nil
}

// newestVerified is the stored checkpoint the head names: the newest one
// at or below the verified head (one signed while the check ran may lie
// beyond it) that nothing was found wrong with, so the one an auditor can
// export knowing the journal held it; nil when there is none. stored is in
// sequence order.
func newestVerified(stored []storage.Checkpoint, found []checkpoint.Finding, head int64) *pb.SignedCheckpoint {
	bad := make(map[int64]bool, len(found))
	for _, f := range found {
		bad[f.Seq] = true
	}
	for i := len(stored) - 1; i >= 0; i-- {
		if c := stored[i]; c.Head.Seq <= head && !bad[c.Head.Seq] {
			return ToSignedCheckpoint(c)
		}
	}
	return nil
}

func chainResponse(rep storage.ChainReport) *pb.VerifyJournalResponse {
	return &pb.VerifyJournalResponse{
		Ok:               rep.OK,
		EntriesChecked:   rep.Checked,
		Head:             &pb.ChainHead{Sequence: rep.Head.Seq, Hash: rep.Head.Hash},
		FirstBadSequence: rep.FirstBad,
		Problem:          rep.Problem,
	}
}

// Page tokens are opaque to clients: a versioned, base64 journal sequence.
func pageToken(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + strconv.FormatInt(seq, 10)))
}

func parsePageToken(tok string) (int64, error) {
	if tok == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil && len(raw) > 3 && string(raw[:3]) == "v1:" {
		if seq, err := strconv.ParseInt(string(raw[3:]), 10, 64); err == nil && seq > 0 {
			return seq, nil
		}
	}
	return 0, status.Error(codes.InvalidArgument, "invalid page_token")
}

func (s *Audit) log() *slog.Logger { return orDefault(s.Log) }
