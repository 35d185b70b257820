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
	if found != 2 {
		return writerTime{}, fmt.Errorf("GET /metrics: the writer's sums are missing")
	}
	return w, nil
}

// writerNote says how busy the writer was during a run of elapsed that
// began at before and ended at after, and how much of that was making
// batches durable: the two figures that tell what bounds ingest.
func writerNote(before, after writerTime, elapsed time.Duration) string {
	busy := after.busy - before.busy
	if busy <= 0 || elapsed <= 0 {
		return ""
	}
	return fmt.Sprintf("writer busy %.0f %% of the run, %.0f %% of that making batches durable",
		100*busy/elapsed.Seconds(), 100*(after.durable-before.durable)/busy)
}
