package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/internal/telemetry"
	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage/sqlite"
)

// Webhooks gathered into one transaction: each Submit has an
// engine.submit span in its caller's trace; the transaction is one
// engine.batch trace linked to every submit span (and back), with
// engine.decide and engine.commit beneath it.
func TestSubmissionsAndTheirBatchAreTraced(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := telemetry.Synchronous(exp, 1)
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "paystate.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	reg, err := sm.NewRegistry(testTable())
	require.NoError(t, err)
	const n = 3
	// The batch waits for the three submissions, and commits as soon as
	// it holds them: no timing decides whether they share it (a 300 ms
	// wait did, which a loaded machine can outlast).
	eng := engine.New(store, reg, engine.Config{MaxBatch: n, MaxDelay: time.Minute, SweepEvery: time.Hour, TracerProvider: tp})
	run(t, eng)

	roots := make([]trace.SpanContext, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, root := tp.Tracer("test").Start(t.Context(), "webhook")
			defer root.End()
			roots[i] = root.SpanContext()
			ev := providers.Event{Provider: "acme", Kind: sm.KindPayment, AggregateID: fmt.Sprintf("o%d", i), Name: "AUTH",
				DedupeKey: fmt.Sprintf("k%d", i), Currency: "EUR", Amount: 100, HasAmount: true}
			_, errs[i] = eng.Submit(ctx, engine.Delivery{Provider: "acme", BodySHA256: "b", RedactedBody: []byte("{}"), Events: []providers.Event{ev}})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}

	byName := map[string][]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		byName[s.Name] = append(byName[s.Name], s)
	}
	require.Len(t, byName["engine.batch"], 1, "one transaction")
	batch := byName["engine.batch"][0]
	require.False(t, batch.Parent.IsValid(), "a trace of its own")
	require.Len(t, batch.Links, n)

	submits := byName["engine.submit"]
	require.Len(t, submits, n)
	linked := map[trace.SpanID]bool{}
	for _, l := range batch.Links {
		linked[l.SpanContext.SpanID()] = true
	}
	for _, s := range submits {
		require.Contains(t, roots, s.Parent, "in its caller's trace")
		require.True(t, linked[s.SpanContext.SpanID()], "the batch links to it")
		require.Len(t, s.Links, 1)
		require.Equal(t, batch.SpanContext.SpanID(), s.Links[0].SpanContext.SpanID(), "it links back to the batch")
		require.Contains(t, s.Attributes, telemetry.AttrProvider.String("acme"))
		require.Contains(t, s.Attributes, telemetry.AttrOutcomes.Int(1))
	}
	for _, name := range []string{"engine.decide", "engine.commit"} {
		require.Len(t, byName[name], 1, name)
		c := byName[name][0]
		require.Equal(t, batch.SpanContext.SpanID(), c.Parent.SpanID(), "%s is the batch's child", name)
		require.False(t, c.StartTime.Before(batch.StartTime))
		require.False(t, c.EndTime.After(batch.EndTime))
	}
	require.Equal(t, byName["engine.decide"][0].EndTime, byName["engine.commit"][0].StartTime)
	require.Contains(t, batch.Attributes, telemetry.AttrBatchDeliveries.Int(n))
	require.Contains(t, batch.Attributes, telemetry.AttrBatchCommitted.Bool(true))

	// A batch that carries no traced request (a sweep) starts no span;
	// swept by an engine that does not wait for company.
	exp.Reset()
	sweeper := engine.New(store, reg, engine.Config{TracerProvider: tp})
	run(t, sweeper)
	_, err = sweeper.Sweep(context.Background(), time.Now())
	require.NoError(t, err)
	require.Empty(t, exp.GetSpans())
}
