package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/ngenius"
	"github.com/paystate/paystate/storage"
)

// failingSubmitter answers every Submit with err.
type failingSubmitter struct{ err error }

func (f failingSubmitter) Submit(context.Context, engine.Delivery) ([]engine.Outcome, error) {
	return nil, f.err
}

// TestWebhookAnswersBySubmitError: 503 with Retry-After only where a retry
// can help (the store unavailable, the server stopping, the call out of
// time); a delivery that cannot be processed is 500 with what is wrong;
// any other failure is 500, never "retry".
func TestWebhookAnswersBySubmitError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err        error
		status     int
		retryAfter bool
		says       string
	}{
		{fmt.Errorf("engine: batch of 3 not committed: %w", storage.ErrUnavailable), http.StatusServiceUnavailable, true, "storage unavailable, retry"},
		{engine.ErrClosed, http.StatusServiceUnavailable, true, "server stopping, retry"},
		{context.DeadlineExceeded, http.StatusServiceUnavailable, true, "retry"},
		{&engine.UnprocessableError{Cause: errors.New("value too long")}, http.StatusInternalServerError, false, "cannot be processed: value too long"},
		{errors.New("something else"), http.StatusInternalServerError, false, "internal error"},
	}
	for _, tc := range cases {
		h := &Webhooks{
			Providers: map[string]providers.Provider{ngenius.Name: ngenius.New(ngenius.Config{AllowUnauthenticated: true})},
			Engine:    failingSubmitter{tc.err},
			Log:       hardQuiet,
		}
		mux := http.NewServeMux()
		mux.Handle("POST /webhooks/{provider}", h)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/webhooks/ngenius", strings.NewReader(`{"eventName":"AUTHORISED","order":{"reference":"o-1"}}`))
		req.Header.Set("Content-Type", "application/json")
		mux.ServeHTTP(rec, req)
		require.Equal(t, tc.status, rec.Code, "%v", tc.err)
		require.Equal(t, tc.retryAfter, rec.Header().Get("Retry-After") != "", "%v: Retry-After", tc.err)
		require.Contains(t, rec.Body.String(), tc.says, "%v", tc.err)
	}
}
