package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// scrapeMetrics reads the named series (without labels) from the server's
// /metrics; every one of them must be there.
func scrapeMetrics(ctx context.Context, base string, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	got := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		if got[name], err = strconv.ParseFloat(value, 64); err != nil {
			return nil, fmt.Errorf("GET /metrics: %s: %w", name, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := got[n]; !ok {
			return nil, fmt.Errorf("GET /metrics: %s is missing", n)
		}
	}
	return got, nil
}

// cacheCounts are the server's view-cache counters.
type cacheCounts struct{ hits, misses float64 }

// readCacheCounts scrapes them; a server without a view cache has none.
func readCacheCounts(ctx context.Context, base string) (cacheCounts, error) {
	const hits, misses = "paystate_read_cache_hits_total", "paystate_read_cache_misses_total"
	m, err := scrapeMetrics(ctx, base, hits, misses)
	if err != nil {
		return cacheCounts{}, err
	}
	return cacheCounts{hits: m[hits], misses: m[misses]}, nil
}
