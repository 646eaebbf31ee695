package extension

import (
	"slices"
	"sync"
	"time"
)

// Stats are one extension's call statistics. Latency percentiles cover the most recent
// latencyWindow calls.
type Stats struct {
	Calls    int64   `json:"calls"`
	Errors   int64   `json:"errors"`
	Timeouts int64   `json:"timeouts"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	// TotalSeconds is the time spent in every call so far (a counter for /metrics).
	TotalSeconds float64 `json:"total_seconds"`
}

// latencyWindow is how many recent latencies the percentiles are computed over: enough for a
// stable p99, small enough to copy and sort on every status request.
const latencyWindow = 1024

type stats struct {
	mu       sync.Mutex
	calls    int64
	errors   int64
	timeouts int64
	total    time.Duration
	ring     [latencyWindow]time.Duration
	n        int
}

func (s *stats) observe(d time.Duration, failed, timeout bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring[s.calls%latencyWindow] = d
	s.calls++
	s.total += d
	if s.n < latencyWindow {
		s.n++
	}
	if failed {
		s.errors++
	}
	if timeout {
		s.timeouts++
	}
}

func (s *stats) snapshot() Stats {
	s.mu.Lock()
	out := Stats{Calls: s.calls, Errors: s.errors, Timeouts: s.timeouts, TotalSeconds: s.total.Seconds()}
	window := slices.Clone(s.ring[:s.n])
	s.mu.Unlock()
	if len(window) == 0 {
		return out
	}
	slices.Sort(window)
	out.P50Ms = ms(percentile(window, 0.50))
	out.P99Ms = ms(percentile(window, 0.99))
	return out
}

// percentile is the nearest-rank percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
