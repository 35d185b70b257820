package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/paystate/paystate/api"
	"github.com/paystate/paystate/buildinfo"
	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/gctune"
	"github.com/paystate/paystate/internal/telemetry"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/redact"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/postgres"
	"github.com/paystate/paystate/storage/viewcache"
)

// serveOptions are serve's flags; empty ones leave the configuration's
// value (the file, the environment, the default).
type serveOptions struct {
	config, httpAddr, grpcAddr, logFormat, logLevel string
	storeFlags
}

func newServeCmd(env func(string) string) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "run the server (SQLite in ./paystate-data by default)",
		Long: `Runs the server: webhooks and REST over HTTP, the API over gRPC. Without a
config file it runs in development mode and generates what is missing
(credentials in the data directory, printed at start).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), *o, env)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "YAML config file")
	envFlag(cmd, "config", "PAYSTATE_CONFIG")
	f.StringVar(&o.httpAddr, "http-addr", "", "HTTP listen address for webhooks and REST (env PAYSTATE_HTTP_ADDR; unset: 127.0.0.1:8080)")
	f.StringVar(&o.grpcAddr, "grpc-addr", "", "gRPC listen address (env PAYSTATE_GRPC_ADDR; unset: 127.0.0.1:9090)")
	o.storeFlags.add(cmd, "directory of the SQLite database (env PAYSTATE_DATA_DIR; unset: ./paystate-data)",
		"a postgres:// URL to run on PostgreSQL instead of the embedded SQLite (env PAYSTATE_STORE)")
	f.StringVar(&o.logFormat, "log-format", "", "auto (JSON unless stderr is a terminal), json or text (env PAYSTATE_LOG_FORMAT; unset: auto)")
	f.StringVar(&o.logLevel, "log-level", "", "debug, info, warn or error (env PAYSTATE_LOG_LEVEL; unset: info)")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	_ = cmd.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"auto", "json", "text"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func serve(ctx context.Context, o serveOptions, env func(string) string) error {
	cfgPath, logFormat, logLevel := &o.config, &o.logFormat, &o.logLevel
	cfg, err := serveConfig(o, env)
	if err != nil {
		return err
	}
	log, err := newTracedLogger(os.Stderr, orEnv(*logFormat, env, "PAYSTATE_LOG_FORMAT", "auto"), orEnv(*logLevel, env, "PAYSTATE_LOG_LEVEL", "info"), cfg.Tracing.Enabled())
	if err != nil {
		return err
	}
	// Without a config file paystate runs in development mode and generates
	// what is missing; with one, nothing is invented behind the operator's
	// back.
	var dev *config.DevCredentials
	if *cfgPath == "" {
		if dev, err = config.FillDev(&cfg); err != nil {
			return err
		}
	} else if len(cfg.APITokens) == 0 {
		return fmt.Errorf("config: %s defines no api_tokens: nobody could read state; add one (see README, Configuration)", *cfgPath)
	}
	stopTuning := tuneGC(ctx)
	defer stopTuning()
	return runServer(ctx, cfg, dev, log, nil)
}

// serveConfig is serve's configuration: the file, the environment, then
// the flags given.
func serveConfig(o serveOptions, env func(string) string) (config.Config, error) {
	cfg, err := config.Load(o.config, env)
	if err != nil {
		return cfg, err
	}
	for dst, v := range map[*string]string{&cfg.HTTPAddr: o.httpAddr, &cfg.GRPCAddr: o.grpcAddr} {
		if v != "" {
			*dst = v
		}
	}
	return cfg, o.storeFlags.apply(&cfg)
}

// tuneGC runs gctune for the process until the returned stop is called;
// stop returns once GOGC is back where it was.
func tuneGC(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); gctune.Run(ctx, gctune.DefaultFloor, time.Second) }()
	return func() { cancel(); <-done }
}

// listen opens addr, the configuration's key; when it cannot, it says
// which address and how to choose another: a port already taken is the
// first thing a new user may meet. clientFlag is how client commands are
// then pointed at the new address.
func listen(addr, key, flag, env, clientFlag string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err == nil {
		return l, nil
	}
	what := "cannot listen on " + key + " " + addr
	if errors.Is(err, syscall.EADDRINUSE) {
		what = key + " " + addr + " is already in use (another program, or another paystate, listens there)"
	}
	return nil, fmt.Errorf("serve: %s: choose another address with %s, %s or %s in the config file "+
		"(client commands then take %s): %w", what, flag, env, key, clientFlag, err)
}

// runServer serves until ctx ends. ready, if set, is told the bound
// addresses once both listeners are open (tests listen on port 0).
func runServer(ctx context.Context, cfg config.Config, dev *config.DevCredentials, log *slog.Logger, ready func(httpAddr, grpcAddr string)) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	tlsCfg, err := cfg.ServerTLS()
	if err != nil {
		return err
	}
	signKey, err := loadCheckpointKey(cfg)
	if err != nil {
		return err
	}
	cardKey, err := cfg.CardIDKey()
	if err != nil {
		return err
	}
	ids := redact.NewIDKey(cardKey)
	provs, off, err := enabledProviders(cfg.Providers)
	if err != nil {
		return err
	}
	if len(off) > 0 {
		log.Warn("providers without credentials are disabled", "providers", off)
	}
	var tables []sm.Table
	byName := map[string]providers.Provider{}
	for _, p := range provs {
		tables = append(tables, p.Tables()...)
		byName[p.Name()] = p
	}
	machines, err := sm.NewRegistry(tables...)
	if err != nil {
		return err
	}
	// One server per SQLite database; on PostgreSQL replicas share the
	// lock, which keeps rebuild --fix away while any of them runs, and an
	// upgrade until every one of them has stopped.
	store, dbPath, unlock, err := openStoreLocked(ctx, cfg, log, lockServe, "serve")
	if errors.Is(err, errStoreInUse) {
		hint := "stop it first, or give this server its own --data-dir"
		if cfg.Store != "" {
			hint = "let it finish first"
		}
		return fmt.Errorf("serve: %w; %s", err, hint)
	}
	if err != nil {
		return err
	}
	defer unlock()
	stopping := false // set when the bounded stop below takes over closing the store
	defer func() {
		if !stopping {
			store.Close()
		}
	}()
	// Every call of the API and the reconciler on the store is bounded; the
	// engine bounds its own transactions.
	bounded := storage.WithTimeout(store, cfg.StoreTimeout.Duration)
	// On SQLite every write passes through this process (the store lock
	// keeps any other away), so aggregate views can be kept in memory
	// exactly; with PostgreSQL, other replicas write too: no cache.
	writes := store
	var views *viewcache.Cache
	if cfg.Store == "" && cfg.ReadCacheViews > 0 {
		views = viewcache.New(cfg.ReadCacheViews)
		// Both faces share the cache: the engine's writes refresh (or
		// remove) the cached views they change, and the API's reads are
		// answered before the bound (a timer) is set when the cache holds
		// the view.
		writes, bounded = views.Wrap(store), views.Wrap(bounded)
	}
	if err := checkHead(ctx, bounded); err != nil {
		return err
	}
	var signs *signer
	if signKey != nil {
		if signs, err = newSigner(ctx, bounded, signKey, checkpointLogPath(cfg), log); err != nil {
			return err
		}
	}

	// Both are tried, so that two ports taken are named at once.
	grpcLis, grpcErr := listen(cfg.GRPCAddr, "grpc_addr", "--grpc-addr", "PAYSTATE_GRPC_ADDR", "--addr")
	httpLis, httpErr := listen(cfg.HTTPAddr, "http_addr", "--http-addr", "PAYSTATE_HTTP_ADDR", "--url")
	if err := errors.Join(grpcErr, httpErr); err != nil {
		for _, l := range []net.Listener{grpcLis, httpLis} {
			if l != nil {
				l.Close()
			}
		}
		return err
	}
	if dev != nil {
		printDev(os.Stderr, cfg, dev, httpLis.Addr().String(), grpcLis.Addr().String())
	}

	// Off (nil) unless tracing.otlp_endpoint is set.
	tracing, err := telemetry.New(ctx, cfg.Tracing, buildinfo.Get().Version, log)
	if err != nil {
		grpcLis.Close()
		httpLis.Close()
		return err
	}
	notifier := engine.NewNotifier()
	metrics := api.NewMetrics()
	if views != nil {
		metrics.ObserveReadCache(views.Stats)
	}
	engineStore := writes
	if crashHooks != nil {
		engineStore = crashHooks.Store(writes)
	}
	// The wrappers hide the store's encoder (SQLite's body compression),
	// which the engine runs before a delivery reaches the writer.
	encoder, _ := store.(storage.Encoder)
	eng := engine.New(engineStore, machines, engine.Config{MaxBatch: cfg.BatchMaxEvents, MaxDelay: cfg.BatchMaxDelay.Duration, Notifier: notifier, Observer: metrics,
		DeferWindow: cfg.DeferWindow.Duration, CommitTimeout: cfg.StoreTimeout.Duration, IDKey: ids, TracerProvider: tracing.Tracer(), Encoder: encoder})
	stopReconciler, err := startReconciler(ctx, cfg, bounded, machines, eng, byName, metrics, log, tracing.Tracer())
	if err != nil {
		grpcLis.Close()
		httpLis.Close()
		return err
	}
	engCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); eng.Run(engCtx) }()
	wg.Add(1)
	go func() { defer wg.Done(); keepCheckpointing(engCtx, store, log) }()
	sealer, _ := store.(*postgres.Store)
	if sealer != nil {
		// PostgreSQL writers commit entries unsealed; this replica's
		// sealer chains them (and any another replica left), woken by
		// the engine's commits, and wakes the watchers, which read only
		// sealed entries.
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = sealer.RunSealer(engCtx, postgres.SealerConfig{
				OnSealed: func(int) { notifier.Notify() },
				OnError:  func(err error) { log.Warn("sealing the journal", "err", err) },
			})
		}()
	}
	if cfg.Store != "" {
		// Other replicas' seals wake this one's watchers at once.
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = postgres.Listen(engCtx, cfg.Store, notifier.Notify, pgOptions(cfg)...)
		}()
	}
	var signerID string
	if signs != nil {
		signerID = signKey.ID
		wg.Add(1)
		go func() { defer wg.Done(); signs.run(engCtx, cfg.CheckpointInterval.Duration) }()
	} else {
		log.Warn("no checkpoint_key_file: the journal's head is not signed, so a cut or rewritten journal with a matching head goes unnoticed (README, Verifying the journal)")
	}

	var tokens []api.Token
	for _, t := range cfg.APITokens {
		h := t.SHA256
		if h == "" {
			h = api.HashToken(t.Token)
		}
		tokens = append(tokens, api.Token{Name: t.Name, Role: t.Role, SHA256: h})
	}
	var submitter api.Submitter = eng
	if crashHooks != nil {
		submitter = crashHooks.Engine(eng)
	}
	srv := api.NewServer(api.Options{
		Store: bounded, Machines: machines, Engine: submitter, Providers: byName, Tokens: tokens, MaxBody: cfg.MaxBodyBytes, Log: log,
		Subscribe: notifier.Subscribe, TLS: tlsCfg,
		Metrics: metrics, Subscribers: notifier.Subscribers,
		RateLimit:       api.RateLimit{PerSecond: cfg.APIRateLimit.PerSecond, Burst: cfg.APIRateLimit.Burst},
		MaxStreams:      maxStreams(cfg.APIMaxStreams),
		WatchPoll:       cfg.WatchPoll.Duration,
		IDKey:           ids,
		CheckpointKeyID: signerID,
		Ready:           eng.Ready,
		ShutdownTimeout: cfg.ShutdownTimeout.Duration,
		TracerProvider:  tracing.Tracer(),
	})
	log.Info("paystate starting", append(buildinfo.Get().LogAttrs(), startAttrs(cfg, dbPath)...)...)
	if ready != nil {
		ready(httpLis.Addr().String(), grpcLis.Addr().String())
	}
	began := make(chan time.Time, 1)
	context.AfterFunc(ctx, func() { began <- time.Now() })
	serveErr := srv.Serve(ctx, grpcLis, httpLis)
	// What is left of shutdown_timeout, counted from the signal, bounds
	// the rest: a store that does not answer must not keep the process.
	stopBy := time.Now()
	select {
	case t := <-began:
		stopBy = t
	default:
	}
	stopBy = stopBy.Add(shutdownTimeout(cfg))
	stopping = true
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		// The reconciler submits through the engine: it stops first.
		stopReconciler()
		// Webhooks in flight have been answered; let the engine finish
		// its queue, each transaction bounded by store_timeout.
		stopEngine()
		wg.Wait()
		if sealer != nil {
			// What the engine committed last is sealed, and signed below.
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout(cfg))
			if _, err := sealer.Seal(final); err != nil {
				log.Warn("sealing the journal at stop: another replica, or the next start, will", "err", err)
			}
			cancel()
		}
		if signs != nil {
			// The engine has drained: this covers the last commit.
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout(cfg))
			signs.signLogged(final)
			cancel()
		}
		// The last spans go out within what is left of the stop.
		flush, cancel := context.WithDeadline(context.WithoutCancel(ctx), stopBy)
		_ = tracing.Shutdown(flush)
		cancel()
	}()
	t := time.NewTimer(time.Until(stopBy))
	defer t.Stop()
	select {
	case <-drained:
	case <-t.C:
		// Exiting is safe: nothing unanswered was acknowledged, and a
		// transaction cut by the exit is rolled back by the database.
		log.Error("paystate stopped without waiting for the engine: shutdown_timeout ran out", "shutdown_timeout", shutdownTimeout(cfg).String())
		return serveErr
	}
	// Nothing is in flight any more. Closing a store whose connections
	// broke can wait on the database (PostgreSQL's driver sends a cancel
	// request for each, and waits up to 15 s for an answer): give it
	// store_timeout, no more.
	closed := make(chan error, 1)
	go func() { closed <- store.Close() }()
	t.Reset(min(time.Until(stopBy), storeTimeout(cfg)))
	select {
	case err := <-closed:
		if err != nil {
			log.Warn("closing the store", "err", err)
		}
		log.Info("paystate stopped")
	case <-t.C:
		log.Warn("paystate stopped without waiting for the store to close", "waited", storeTimeout(cfg).String())
	}
	return serveErr
}

// crashHooks is set only in a binary built with the crashpoints tag
// (crashpoints.go, for the crash harness) and PAYSTATE_CRASHPOINT set: it
// wraps the engine's store and the webhooks' engine to stop the server at
// a chosen point of the commit path. Nil in every release build.
var crashHooks interface {
	Store(storage.Store) storage.Store
	Engine(*engine.Engine) api.Submitter
}

// storeTimeout is the configured bound on a store call, or its default.
func storeTimeout(cfg config.Config) time.Duration {
	if d := cfg.StoreTimeout.Duration; d > 0 {
		return d
	}
	return storage.DefaultTimeout
}

// shutdownTimeout is the configured bound on a stop, or its default.
func shutdownTimeout(cfg config.Config) time.Duration {
	if d := cfg.ShutdownTimeout.Duration; d > 0 {
		return d
	}
	return api.DefaultShutdownTimeout
}

// maxStreams is api.Options.MaxStreams for the configured cap, where 0
// means no cap.
func maxStreams(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// printDev prints the development banner. It shows the generated API
// token only when the server accepts it: with PAYSTATE_API_TOKENS set, the
// tokens given there are the only ones, and the examples say so. So with
// the N-Genius header: with PAYSTATE_NGENIUS_HEADER_NAME set, the
// generated one is not accepted, and the send example passes the
// configured one.
func printDev(w io.Writer, cfg config.Config, dev *config.DevCredentials, httpAddr, grpcAddr string) {
	token, tokenLine := dev.APIToken, "API token (admin):        "+dev.APIToken
	if !slices.ContainsFunc(cfg.APITokens, func(t config.APIToken) bool { return t.Token == dev.APIToken }) {
		token, tokenLine = "$TOKEN", "API tokens:               those of PAYSTATE_API_TOKENS (none was generated)"
	}
	ng := cfg.Providers.NGenius
	headerLine, send := "N-Genius webhook header:  "+dev.NGeniusHeaderName+": "+dev.NGeniusHeaderValue, sendFlags(cfg, httpAddr)
	if ng.HeaderName != dev.NGeniusHeaderName || !slices.Contains(ng.HeaderValues, dev.NGeniusHeaderValue) {
		headerLine = "N-Genius webhook header:  that of PAYSTATE_NGENIUS_HEADER_NAME and _VALUES (none was generated)"
		send += " --secret '" + ng.HeaderName + ": $SECRET'"
		if ng.HeaderName == "" {
			// Unauthenticated webhooks allowed: no header to send.
			headerLine = "N-Genius webhook header:  none (unauthenticated webhooks allowed)"
			send = sendFlags(cfg, httpAddr)
		}
	}
	// With TLS on, the examples trust the server's own certificate: right
	// for a self-signed one, and said so for one a CA signed.
	curlTLS, scheme, grpcurlTLS, tlsNote := "", "http", "-plaintext", ""
	if cert := cfg.TLS.CertFile; cert != "" {
		curlTLS, scheme, grpcurlTLS = " --cacert "+cert, "https", "-cacert "+cert
		tlsNote = "    (TLS: these trust " + cert + " itself, as for a self-signed certificate; for one a CA\n" +
			"    signed, name that CA instead; paystate get, list, ... take --ca-file the same way)\n"
	}
	fmt.Fprintf(w, `
  paystate is running in DEVELOPMENT MODE: no config file gave credentials,
  so these were generated (kept in %s):

    %s
    %s

  Every provider's secret was generated too (see the file). Try:
    paystate send%s ngenius sample_captured      # signs and posts a documented sample
    paystate send --list inyo                  # the samples of a provider
    curl -s%s -H 'Authorization: Bearer %s' %s://%s/v1/providers/ngenius/orders/abc123xyz
    grpcurl %s -H 'authorization: Bearer %s' %s list
%s
`, filepath.Join(cfg.DataDir, config.DevFile), tokenLine, headerLine,
		send, curlTLS, token, scheme, httpAddr, grpcurlTLS, token, grpcAddr, tlsNote)
}

// sendFlags are the flags `paystate send` needs to reach this server and
// its development credentials, when they are not send's defaults.
func sendFlags(cfg config.Config, httpAddr string) string {
	var flags string
	if httpAddr != "127.0.0.1:8080" {
		flags += " --url http://" + httpAddr
	}
	if cfg.TLS.CertFile != "" {
		flags += " --ca-file " + cfg.TLS.CertFile // http:// URLs become https://
	}
	if cfg.DataDir != "paystate-data" {
		flags += " --data-dir " + cfg.DataDir
	}
	return flags
}

// checkHead refuses a store whose chain head was moved back behind
// entries still in its journal: every append would take a sequence
// already used, so the server would answer every webhook 500 while it
// said it was ready.
func checkHead(ctx context.Context, r storage.Reader) error {
	head, err := r.Head(ctx)
	if err != nil {
		return err
	}
	past, err := storage.PastHead(ctx, r, head)
	if err != nil || past == 0 {
		return err
	}
	return fmt.Errorf("serve: the journal's chain head (%d) is behind its entries: entry %d lies past it (the head was moved back); "+
		"every new entry would take a sequence already used, so nothing could be recorded. Restore the database; paystate rebuild, which needs no server, names what else was changed",
		head.Seq, past)
}
