package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
)

// silentStore answers nothing until the caller gives up, as a database
// behind a stalled connection.
type silentStore struct{ storage.Store }

func (silentStore) Head(ctx context.Context) (storage.ChainHead, error) {
	<-ctx.Done()
	return storage.ChainHead{}, ctx.Err()
}

func (silentStore) Update(ctx context.Context, _ func(storage.Tx) error) error {
	<-ctx.Done()
	return ctx.Err()
}

// WithTimeout ends a call the store does not answer with ErrUnavailable
// (the store's failure, retry later), while the caller's own
// cancellation stays the caller's.
func TestWithTimeout(t *testing.T) {
	t.Parallel()
	s := storage.WithTimeout(silentStore{}, 50*time.Millisecond)
	_, err := s.Head(t.Context())
	require.ErrorIs(t, err, storage.ErrUnavailable)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, s.Update(t.Context(), nil), storage.ErrUnavailable)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = s.Head(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, storage.ErrUnavailable, "the caller gave up, not the store")

	require.Equal(t, storage.Store(silentStore{}), storage.WithTimeout(silentStore{}, 0), "0: unbounded")
}
