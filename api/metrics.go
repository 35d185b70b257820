package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/storage"
)

// Metrics are paystate's Prometheus metrics. They live on a registry of
// their own, not the process-wide default, so that several servers (tests
// run them in parallel) never share series. Serve them with the Server
// (GET /metrics); other components (the engine, the reconciler) register
// on Registry or are given Metrics as their observer.
type Metrics struct {
	Registry *prometheus.Registry

	webhooks       *prometheus.CounterVec
	webhookSeconds *prometheus.HistogramVec
	batchSize      prometheus.Histogram
	commitSeconds  prometheus.Histogram
	durableSeconds prometheus.Histogram
	writerCPU      prometheus.Counter
	commitFailures prometheus.Counter
	expired        prometheus.Counter
	grpc           *grpcMetrics
}

var _ engine.Observer = (*Metrics)(nil)

// latencyBuckets reach below the default buckets: a webhook is answered
// after one local commit, usually in milliseconds.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// NewMetrics returns the metrics on a fresh registry, with the Go runtime
// and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paystate_webhooks_total",
			Help: "Webhook answers by provider, verdict and HTTP status code. A webhook carrying several events counts once per event; one that was not decided (401, 404, 413, 503) counts once with verdict \"none\". Unknown provider names count as provider \"unknown\".",
		}, []string{"provider", "verdict", "code"}),
		webhookSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "paystate_webhook_duration_seconds",
			Help:    "Time from receiving a webhook to answering it (the commit included), by provider.",
			Buckets: latencyBuckets,
		}, []string{"provider"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "paystate_engine_batch_size",
			Help:    "Submissions (deliveries and expiry sweeps) committed together in one transaction (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "paystate_engine_commit_duration_seconds",
			Help:    "Time one batch transaction took, deciding and committing included.",
			Buckets: latencyBuckets,
		}),
		durableSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "paystate_engine_commit_durable_seconds",
			Help:    "The part of one batch transaction after its last statement: the store making the batch durable (SQLite: the batch's journal, receipt and aggregate rows, written together at the end, then WAL writes, flush, automatic checkpoints; PostgreSQL: pipelined writes and COMMIT).",
			Buckets: latencyBuckets,
		}),
		writerCPU: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paystate_engine_writer_cpu_seconds_total",
			Help: "CPU time of the engine's writer thread in batch transactions (deciding, statements, the store's commit; not the flush it waits for), from the thread's own CPU clock (Linux). Divided by the webhooks committed it is the writer's CPU per webhook.",
		}),
		commitFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paystate_engine_commit_failures_total",
			Help: "Batch transactions that did not commit (their webhooks were answered 503).",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paystate_deferred_expired_total",
			Help: "Deferred events rejected by this process because their predecessor did not arrive within the deferral window.",
		}),
		grpc: newGRPCMetrics(latencyBuckets),
	}
	m.Registry.MustRegister(
		m.webhooks, m.webhookSeconds, m.batchSize, m.commitSeconds, m.durableSeconds, m.writerCPU, m.commitFailures, m.expired, m.grpc,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Committed implements engine.Observer.
func (m *Metrics) Committed(b engine.Batch) {
	m.batchSize.Observe(float64(b.Size))
	m.commitSeconds.Observe(b.Took.Seconds())
	if b.Committing > 0 {
		m.durableSeconds.Observe(b.Committing.Seconds())
	}
	if b.CPU > 0 {
		m.writerCPU.Add(b.CPU.Seconds())
	}
	if b.Err != nil {
		m.commitFailures.Inc()
	}
}

// Expired implements engine.Observer.
func (m *Metrics) Expired(n int) { m.expired.Add(float64(n)) }

// webhook counts one answered webhook.
func (m *Metrics) webhook(provider string, code int, outcomes []engine.Outcome, took time.Duration) {
	if m == nil {
		return
	}
	c := strconv.Itoa(code)
	if len(outcomes) == 0 {
		m.webhooks.WithLabelValues(provider, "none", c).Inc()
	}
	for _, o := range outcomes {
		m.webhooks.WithLabelValues(provider, string(o.Verdict), c).Inc()
	}
	m.webhookSeconds.WithLabelValues(provider).Observe(took.Seconds())
}

// handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) handler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// observeStore adds the gauges that are read from the store at scrape
// time, so that with several replicas on one database every replica
// reports the same, shared figures.
func (m *Metrics) observeStore(r storage.Reader, log *slog.Logger) {
	m.Registry.MustRegister(&storeCollector{store: r, log: log})
}

// ObserveReadCache adds the counters of the aggregate view cache (package
// storage/viewcache): the reads it answered and those that read the
// store.
func (m *Metrics) ObserveReadCache(stats func() (hits, misses uint64)) {
	m.Registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "paystate_read_cache_hits_total",
			Help: "Aggregate views (GetOrder, GetAggregate) answered from the server's view cache (read_cache_views).",
		}, func() float64 { h, _ := stats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "paystate_read_cache_misses_total",
			Help: "Aggregate views read from the store because the view cache did not hold them.",
		}, func() float64 { _, mi := stats(); return float64(mi) }),
	)
}

// observeSubscribers adds the watch-subscriber gauge.
func (m *Metrics) observeSubscribers(n func() int) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "paystate_watch_subscribers",
		Help: "Watch streams currently subscribed to this process's commit notifications.",
	}, func() float64 { return float64(n()) }))
}

// maxPendingCount caps how many held events a scrape counts: the store's
// read side lists held events (it has no count of them all), and a scrape
// must stay cheap. Far more than this means the deferral window is hiding a
// provider outage, which the gauge at its cap still shows.
const maxPendingCount = 10000

// storeScrapeTimeout bounds the store reads of one scrape.
const storeScrapeTimeout = 5 * time.Second

var (
	journalLengthDesc = prometheus.NewDesc("paystate_journal_length",
		"Entries in the journal: the sequence of the chain head.", nil, nil)
	deferredPendingDesc = prometheus.NewDesc("paystate_deferred_pending",
		"Events held (deferred) waiting for their predecessor, counted up to 10000.", nil, nil)
	storeUpDesc = prometheus.NewDesc("paystate_store_up",
		"1 when the store answered this scrape's reads, 0 when it did not.", nil, nil)
)

// farFuture is after every deferred event's expiry.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

type storeCollector struct {
	store storage.Reader
	log   *slog.Logger
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- journalLengthDesc
	ch <- deferredPendingDesc
	ch <- storeUpDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), storeScrapeTimeout)
	defer cancel()
	up := 1.0
	if head, err := c.store.Head(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(journalLengthDesc, prometheus.GaugeValue, float64(head.Seq))
	} else {
		up = 0
		c.log.Warn("metrics: reading the chain head", "err", err)
	}
	if held, err := c.store.ExpiredDeferred(ctx, farFuture, maxPendingCount); err == nil {
		ch <- prometheus.MustNewConstMetric(deferredPendingDesc, prometheus.GaugeValue, float64(len(held)))
	} else {
		up = 0
		c.log.Warn("metrics: counting deferred events", "err", err)
	}
	ch <- prometheus.MustNewConstMetric(storeUpDesc, prometheus.GaugeValue, up)
}
