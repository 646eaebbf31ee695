package recovery

import (
	"log/slog"
	"sort"
	"sync"

	"github.com/comfylauncher/launcher/agent/internal/recovery/breaker"
	"github.com/comfylauncher/launcher/agent/internal/recovery/clock"
)

type breakerEntry struct {
	b        *breaker.Breaker
	function string
	target   string
}

// BreakerStatus is one breaker as the API and circuit_breaker_update report it.
type BreakerStatus struct {
	OperationType       string        `json:"operation_type"`
	Target              string        `json:"target"`
	State               breaker.State `json:"state"`
	TimeoutRemaining    float64       `json:"timeout_remaining"`
	FailureCount        uint32        `json:"failure_count"`
	ConsecutiveFailures uint32        `json:"consecutive_failures"`
	Requests            uint32        `json:"requests"`
	Threshold           int           `json:"threshold"`
	Trips               uint64        `json:"trips"`
}

// breakerSet holds one circuit breaker per (operation type, target), created on first use.
// Each change of state is logged and published, and each trip counted in the history.
type breakerSet struct {
	opts    BreakerOptions
	clk     clock.Clock
	log     *slog.Logger
	history *history
	events  *eventPublisher

	mu sync.Mutex
	m  map[string]*breakerEntry
}

// get returns the breaker guarding target for operations of function.
func (s *breakerSet) get(function, target string) *breakerEntry {
	key := function + "|" + target
	s.mu.Lock()
	defer s.mu.Unlock()
	if be, ok := s.m[key]; ok {
		return be
	}
	be := &breakerEntry{function: function, target: target}
	threshold := uint32(s.opts.Threshold)
	be.b = breaker.New(breaker.Settings{
		Name:        function + "@" + target,
		MaxRequests: uint32(s.opts.HalfOpenMax),
		Interval:    s.opts.Interval,
		Timeout:     s.opts.OpenTimeout,
		ReadyToTrip: func(c breaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
		Clock:       s.clk,
		OnStateChange: func(name string, from, to breaker.State) {
			s.log.Info("circuit breaker changed state", "breaker", name, "from", from, "to", to)
			if to == breaker.Open {
				s.history.addTrip()
			}
			s.events.breaker(s.status(be))
		},
	})
	s.m[key] = be
	return be
}

func (s *breakerSet) status(be *breakerEntry) BreakerStatus {
	c := be.b.Counts()
	return BreakerStatus{
		OperationType:       be.function,
		Target:              be.target,
		State:               be.b.State(),
		TimeoutRemaining:    be.b.Remaining().Seconds(),
		FailureCount:        c.TotalFailures,
		ConsecutiveFailures: c.ConsecutiveFailures,
		Requests:            c.Requests,
		Threshold:           s.opts.Threshold,
		Trips:               be.b.Trips(),
	}
}

// list returns every breaker's status, sorted by operation type and target.
func (s *breakerSet) list() []BreakerStatus {
	s.mu.Lock()
	entries := make([]*breakerEntry, 0, len(s.m))
	for _, be := range s.m {
		entries = append(entries, be)
	}
	s.mu.Unlock()
	out := make([]BreakerStatus, 0, len(entries))
	for _, be := range entries {
		out = append(out, s.status(be))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].OperationType != out[j].OperationType {
			return out[i].OperationType < out[j].OperationType
		}
		return out[i].Target < out[j].Target
	})
	return out
}
