package api

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/paystate/paystate/proto/paystate/v1"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// Watch tuning.
const (
	watchPage             = 500
	defaultHeartbeat      = 15 * time.Second
	defaultWatchPoll      = time.Second
	minHeartbeat, maxBeat = 1, 300
)

// Watch serves paystate.v1.WatchService by tailing the journal. It wakes
// on the local engine's commits and also polls, so that entries committed
// by another replica on the same database reach this replica's watchers.
type Watch struct {
	pb.UnimplementedWatchServiceServer
	Store storage.Reader
	// Machines name the providers a filter may ask for (filters.go).
	Machines *sm.Registry
	// Subscribe returns a channel signalled after local commits (optional).
	Subscribe func() (<-chan struct{}, func())
	// Poll is how often the journal is read when nothing signals; default
	// one second.
	Poll time.Duration
	Log  *slog.Logger
	// Stopping, when closed (the server is shutting down), ends every
	// stream at once: a last heartbeat carrying the cursor to resume from,
	// then Unavailable, with the trailer paystate-stream-end: draining so
	// that a client can tell this planned end from a failure (paystate
	// watch exits 0). A stream opened after it closed is refused the same
	// way. Without it a shutdown waits out its grace period for watchers
	// that would never leave on their own.
	Stopping <-chan struct{}
}

// StreamEndTrailer is the trailer key of a stream the server ended on
// purpose; its value says why ("draining").
const StreamEndTrailer = "paystate-stream-end"

// watchFilter is a WatchRequest, validated.
type watchFilter struct {
	states    []string
	direction pb.Direction
	kinds     []string
	providers []string
	verdicts  []pb.Verdict
}

func (f watchFilter) match(e *storage.JournalEntry) bool {
	if len(f.kinds) > 0 && !slices.Contains(f.kinds, e.Key.Kind) {
		return false
	}
	if len(f.providers) > 0 && !slices.Contains(f.providers, e.Key.Provider) {
		return false
	}
	if len(f.verdicts) > 0 && !slices.Contains(f.verdicts, verdictEnum(e.Verdict)) {
		return false
	}
	if len(f.states) == 0 {
		return true
	}
	before, after := slices.Contains(f.states, e.StateBefore), slices.Contains(f.states, e.StateAfter)
	switch f.direction {
	case pb.Direction_DIRECTION_ENTERING:
		return after && !before
	case pb.Direction_DIRECTION_LEAVING:
		return before && !after
	}
	return before != after
}

// filter validates the request's filters with the listings' checks: a
// watch for a value that can match nothing would send heartbeats forever.
func (w *Watch) filter(ctx context.Context, req *pb.WatchRequest) (watchFilter, error) {
	f := watchFilter{direction: req.GetDirection(), verdicts: req.GetVerdicts(), providers: req.GetProviders()}
	var err error
	if f.kinds, err = parseKinds(req.GetKinds()); err != nil {
		return f, err
	}
	for _, s := range req.GetStates() {
		state, err := parseState(s, f.kinds)
		if err != nil {
			return f, err
		}
		f.states = append(f.states, state)
	}
	for _, p := range f.providers {
		if err := checkProvider(ctx, w.Machines, w.Store, p); err != nil {
			return f, err
		}
	}
	return f, nil
}

// Watch streams matching journal entries from the request's cursor on.
func (w *Watch) Watch(req *pb.WatchRequest, stream pb.WatchService_WatchServer) error {
	if w.drained() {
		return w.end(stream, req.GetAfterSequence())
	}
	// ctx also ends when draining begins, so that a read the store is
	// slow to answer does not hold the stream past it.
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	if w.Stopping != nil {
		go func() {
			select {
			case <-w.Stopping:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	f, err := w.filter(ctx, req)
	if err != nil {
		return toStatus(ctx, orDefault(w.Log), err)
	}
	beat := defaultHeartbeat
	if hs := req.GetHeartbeatSeconds(); hs != 0 {
		if hs < minHeartbeat || hs > maxBeat {
			return status.Error(codes.InvalidArgument, "heartbeat_seconds must be between 1 and 300")
		}
		beat = time.Duration(hs) * time.Second
	}
	if req.GetAfterSequence() < 0 {
		return status.Error(codes.InvalidArgument, "after_sequence must not be negative")
	}
	cursor := req.GetAfterSequence()
	head, err := w.Store.Head(ctx)
	if err != nil {
		if w.drained() {
			return w.end(stream, cursor)
		}
		return toStatus(ctx, orDefault(w.Log), err)
	}
	if req.GetStartAtHead() {
		cursor = head.Seq
	}
	if cursor > head.Seq {
		return status.Errorf(codes.OutOfRange, "cursor %d is beyond the end of the journal (%d): it cannot be served", cursor, head.Seq)
	}
	// The request is accepted: say so now rather than with the first entry
	// or heartbeat, which may be a heartbeat period away. The REST gateway
	// answers its client's request when it sees this (openWatch).
	if err := stream.SendHeader(metadata.Pairs(watchOpenKey, "1")); err != nil {
		return err
	}

	wake := make(<-chan struct{})
	if w.Subscribe != nil {
		ch, cancel := w.Subscribe()
		defer cancel()
		wake = ch
	}
	poll := w.Poll
	if poll <= 0 {
		poll = defaultWatchPoll
	}
	pollTick := time.NewTicker(poll)
	defer pollTick.Stop()
	heartbeat := time.NewTimer(beat)
	defer heartbeat.Stop()

	for {
		entries, err := w.Store.Journal(ctx, nil, cursor, watchPage)
		if err != nil {
			if w.drained() {
				return w.end(stream, cursor)
			}
			return toStatus(ctx, orDefault(w.Log), err)
		}
		for i := range entries {
			e := &entries[i]
			cursor = e.Seq
			if !f.match(e) {
				continue
			}
			if err := stream.Send(&pb.WatchResponse{Cursor: cursor, Entry: toEntry(*e, false)}); err != nil {
				return err
			}
			heartbeat.Reset(beat)
		}
		if len(entries) == watchPage {
			continue // more to read before waiting
		}
		select {
		case <-ctx.Done():
			if w.drained() {
				return w.end(stream, cursor)
			}
			return status.FromContextError(ctx.Err()).Err()
		case <-wake:
		case <-pollTick.C:
		case <-heartbeat.C:
			if err := stream.Send(&pb.WatchResponse{Cursor: cursor, Heartbeat: true}); err != nil {
				return err
			}
			heartbeat.Reset(beat)
		}
	}
}

func (w *Watch) drained() bool {
	select {
	case <-w.Stopping:
		return true
	default:
		return false
	}
}

// errStopping ends a stream because the server is shutting down.
var errStopping = status.Error(codes.Unavailable, "the server is shutting down: resume from the last cursor")

// end ends a stream because the server is draining: the client gets the
// cursor to resume from (on another replica, or this one once it is
// back), then Unavailable, marked by the trailer as a planned end.
func (w *Watch) end(stream pb.WatchService_WatchServer, cursor int64) error {
	stream.SetTrailer(metadata.Pairs(StreamEndTrailer, "draining"))
	if err := stream.Send(&pb.WatchResponse{Cursor: cursor, Heartbeat: true}); err != nil {
		return err
	}
	return errStopping
}
