package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// writerTime is how long the engine's writer has spent on batch
// transactions, and on the durable part of them, as the server's own
// metrics count it.
type writerTime struct {
	busy, durable float64 // seconds
	// cpu is the writer thread's own CPU time in batch transactions.
	cpu float64 // seconds
}

// readWriterTime scrapes the two sums from the server's /metrics.
func readWriterTime(ctx context.Context, base string) (writerTime, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return writerTime{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return writerTime{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return writerTime{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	var w writerTime
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var dst *float64
		switch name {
		case "paystate_engine_commit_duration_seconds_sum":
			dst = &w.busy
		case "paystate_engine_commit_durable_seconds_sum":
			dst = &w.durable
		case "paystate_engine_writer_cpu_seconds_total":
			dst = &w.cpu
		default:
			continue
		}
		if *dst, err = strconv.ParseFloat(value, 64); err != nil {
			return writerTime{}, fmt.Errorf("GET /metrics: %s: %w", name, err)
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return writerTime{}, err
	}
	if found != 3 {
		return writerTime{}, fmt.Errorf("GET /metrics: the writer's sums are missing")
	}
	return w, nil
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
