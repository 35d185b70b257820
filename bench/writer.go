package bench

import (
	"context"
	"fmt"
	"time"
)

// writerTime is how long the engine's writer has spent on batch
// transactions, and on the durable part of them, as the server's own
// metrics count it.
type writerTime struct {
	busy, durable float64 // seconds
	// cpu is the writer thread's own CPU time in batch transactions.
	cpu float64 // seconds
	// submissions and batches: how many the batches held, and how many
	// there were.
	submissions, batches float64
}

// readWriterTime scrapes the writer's sums from the server's /metrics.
func readWriterTime(ctx context.Context, base string) (writerTime, error) {
	const busy, durable, cpu = "paystate_engine_commit_duration_seconds_sum", "paystate_engine_commit_durable_seconds_sum", "paystate_engine_writer_cpu_seconds_total"
	const submissions, batches = "paystate_engine_batch_size_sum", "paystate_engine_batch_size_count"
	m, err := scrapeMetrics(ctx, base, busy, durable, cpu, submissions, batches)
	if err != nil {
		return writerTime{}, err
	}
	return writerTime{busy: m[busy], durable: m[durable], cpu: m[cpu], submissions: m[submissions], batches: m[batches]}, nil
}

// writerNote says how busy the writer was during a run of elapsed that
// began at before and ended at after, how much of that was making
// batches durable, and the writer thread's own CPU per webhook of the
// run's webhooks: the figures that tell what bounds ingest. The CPU
// figure, unlike the rates, does not move when other work shares the
// machine's cores.
func writerNote(before, after writerTime, elapsed time.Duration, webhooks int64) string {
	busy := after.busy - before.busy
	if busy <= 0 || elapsed <= 0 {
		return ""
	}
	note := fmt.Sprintf("writer busy %.0f %% of the run, %.0f %% of that making batches durable",
		100*busy/elapsed.Seconds(), 100*(after.durable-before.durable)/busy)
	if us := writerCPUus(before, after, webhooks); us > 0 {
		note += fmt.Sprintf("; writer CPU %.0f µs/webhook", us)
	}
	// The writer's CPU per webhook falls as batches grow: each shares
	// one commit.
	if n := after.batches - before.batches; n > 0 {
		note += fmt.Sprintf("; %.1f webhooks a batch", (after.submissions-before.submissions)/n)
	}
	return note
}

// writerCPUus is the writer thread's CPU per webhook between two
// scrapes; 0 when it was not measured.
func writerCPUus(before, after writerTime, webhooks int64) float64 {
	if webhooks <= 0 || after.cpu <= before.cpu {
		return 0
	}
	return 1e6 * (after.cpu - before.cpu) / float64(webhooks)
}
