package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/paystate/paystate/api"
	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/internal/telemetry"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/ngenius"
	"github.com/paystate/paystate/reconcile"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// startReconciler runs the reconciler when a provider's status API is
// configured (today N-Genius; Magnius has no status client yet) and the
// provider itself is enabled. It returns a function that stops it and
// waits; the engine must still be running until then. tracing, if set,
// traces its checks and the provider API calls they make.
func startReconciler(ctx context.Context, cfg config.Config, store storage.Reader, machines *sm.Registry, eng *engine.Engine,
	enabled map[string]providers.Provider, metrics *api.Metrics, log *slog.Logger, tracing trace.TracerProvider) (stop func(), err error) {
	fetchers := map[string]providers.StatusFetcher{}
	ng := cfg.Providers.NGenius
	if ng.APIKey != "" && ng.OutletRef != "" && ng.APIBaseURL != "" {
		if enabled[ngenius.Name] == nil {
			log.Warn("reconciler: N-Genius API credentials are set but its webhooks are disabled; not reconciling N-Genius")
		} else {
			sc := ngenius.StatusConfig{BaseURL: ng.APIBaseURL, APIKey: ng.APIKey, OutletRef: ng.OutletRef}
			if tracing != nil {
				sc.HTTPClient = telemetry.HTTPClient(tracing, 10*time.Second)
			}
			client, err := ngenius.NewStatusClient(sc)
			if err != nil {
				return nil, err
			}
			fetchers[ngenius.Name] = client
		}
	}
	if len(fetchers) == 0 {
		return func() {}, nil
	}
	r := reconcile.New(store, machines, eng, fetchers, reconcile.Config{
		Interval: cfg.Reconcile.Interval.Duration,
		MinAge:   cfg.Reconcile.MinAge.Duration,
		MaxAge:   cfg.Reconcile.MaxAge.Duration,
		Log:      log.With("component", "reconcile"),
		// A registry owned by the server, never the process default.
		Registerer:     metrics.Registry,
		TracerProvider: tracing,
	})
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.Run(ctx) }()
	return func() { cancel(); wg.Wait() }, nil
}
