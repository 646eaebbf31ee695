package download

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Hosts limits concurrent connections per host and keeps a circuit breaker per host so an
// outage of one model hub (or a 429 storm) stops hammering it while other hosts keep working.
// Auth and not-found answers do not count as failures: they are the client's problem.
type Hosts struct {
	perHost   int
	threshold int
	cooldown  time.Duration
	now       func() time.Time

	mu    sync.Mutex
	hosts map[string]*hostState
	// OnChange, when set, is called (without the lock) when a breaker changes state.
	OnChange func(host, state string)
}

type hostState struct {
	sem       chan struct{}
	failures  int
	state     string // closed, open, half_open
	openUntil time.Time
	probing   bool
}

// Breaker states.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half_open"
)

// NewHosts returns per-host limits: perHost concurrent connections, a breaker that opens after
// threshold consecutive failures for cooldown. now is the clock (time.Now when nil).
func NewHosts(perHost, threshold int, cooldown time.Duration, now func() time.Time) *Hosts {
	if perHost < 1 {
		perHost = 1
	}
	if threshold < 1 {
		threshold = 5
	}
	if now == nil {
		now = time.Now
	}
	return &Hosts{perHost: perHost, threshold: threshold, cooldown: cooldown, now: now, hosts: map[string]*hostState{}}
}

func (h *Hosts) get(host string) *hostState {
	s := h.hosts[host]
	if s == nil {
		s = &hostState{sem: make(chan struct{}, h.perHost), state: BreakerClosed}
		h.hosts[host] = s
	}
	return s
}

// Acquire waits for a connection slot of host. It fails fast with ErrBreakerOpen (RetryAfter
// set to the remaining cooldown) while the host's breaker is open.
func (h *Hosts) Acquire(ctx context.Context, host string) (release func(), err error) {
	h.mu.Lock()
	s := h.get(host)
	var changed string
	switch s.state {
	case BreakerOpen:
		if wait := s.openUntil.Sub(h.now()); wait > 0 {
			h.mu.Unlock()
			return nil, &Error{Class: ClassNetwork, RetryAfter: wait, Err: fmt.Errorf("%w %s (retry in %s)", ErrBreakerOpen, host, wait.Round(time.Second))}
		}
		s.state, s.probing, changed = BreakerHalfOpen, true, BreakerHalfOpen
	case BreakerHalfOpen:
		if s.probing {
			h.mu.Unlock()
			return nil, &Error{Class: ClassNetwork, RetryAfter: time.Second, Err: fmt.Errorf("%w %s (probe in flight)", ErrBreakerOpen, host)}
		}
		s.probing = true
	}
	h.mu.Unlock()
	h.notify(host, changed)
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return func() { <-s.sem }, nil
}

// Report records the outcome of a request to host.
func (h *Hosts) Report(host string, err error) {
	h.mu.Lock()
	s := h.get(host)
	var changed string
	s.probing = false
	if err == nil || !countsForBreaker(err) {
		if s.state != BreakerClosed {
			changed = BreakerClosed
		}
		s.failures, s.state = 0, BreakerClosed
	} else {
		s.failures++
		if s.state == BreakerHalfOpen || s.failures >= h.threshold {
			if s.state != BreakerOpen {
				changed = BreakerOpen
			}
			s.state, s.openUntil = BreakerOpen, h.now().Add(h.cooldown)
		}
	}
	h.mu.Unlock()
	h.notify(host, changed)
}

// State returns host's breaker state.
func (h *Hosts) State(host string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.get(host).state
}

func (h *Hosts) notify(host, state string) {
	if state != "" && h.OnChange != nil {
		h.OnChange(host, state)
	}
}

// countsForBreaker: only failures that say "this host is unhealthy" trip the breaker.
func countsForBreaker(err error) bool {
	switch ClassOf(err) {
	case ClassNetwork, ClassTimeout:
		return true
	}
	return false
}
