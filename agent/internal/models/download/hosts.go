package download

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/recovery/breaker"
	"github.com/comfylauncher/launcher/agent/internal/recovery/clock"
)

// Hosts limits concurrent connections per host and keeps a circuit breaker (the recovery
// runner's breaker type) per host, so an outage of one model hub stops hammering it while
// other hosts keep working. Only network and timeout failures count against a host: an auth
// or not-found answer says the host is up.
type Hosts struct {
	perHost   int
	threshold int
	cooldown  time.Duration
	clk       clock.Clock

	mu       sync.Mutex
	hosts    map[string]*hostState
	onChange func(HostBreaker)
}

type hostState struct {
	sem chan struct{}
	b   *breaker.Breaker
}

// HostBreaker is a host's breaker after a state change, for circuit_breaker_update.
type HostBreaker struct {
	Host      string
	From, To  breaker.State
	Remaining time.Duration
	Counts    breaker.Counts
	Trips     uint64
	Threshold int
}

// NewHosts returns per-host limits: perHost concurrent connections, a breaker that opens after
// threshold consecutive failures for cooldown. clk is the clock (the real one when nil).
func NewHosts(perHost, threshold int, cooldown time.Duration, clk clock.Clock) *Hosts {
	if perHost < 1 {
		perHost = 1
	}
	if threshold < 1 {
		threshold = 5
	}
	if clk == nil {
		clk = clock.Real()
	}
	return &Hosts{perHost: perHost, threshold: threshold, cooldown: cooldown, clk: clk, hosts: map[string]*hostState{}}
}

// OnChange sets the function told of every breaker state change; it runs outside the
// breaker's lock and must not block. Set it before the first download.
func (h *Hosts) OnChange(f func(HostBreaker)) {
	h.mu.Lock()
	h.onChange = f
	h.mu.Unlock()
}

func (h *Hosts) get(host string) *hostState {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.hosts[host]
	if s == nil {
		s = &hostState{sem: make(chan struct{}, h.perHost)}
		threshold := uint32(h.threshold)
		var b *breaker.Breaker
		b = breaker.New(breaker.Settings{
			Name: host, MaxRequests: 1, Timeout: h.cooldown, Clock: h.clk,
			ReadyToTrip: func(c breaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
			OnStateChange: func(_ string, from, to breaker.State) {
				h.mu.Lock()
				f := h.onChange
				h.mu.Unlock()
				if f != nil {
					f(HostBreaker{Host: host, From: from, To: to, Remaining: b.Remaining(), Counts: b.Counts(), Trips: b.Trips(), Threshold: h.threshold})
				}
			},
		})
		s.b = b
		h.hosts[host] = s
	}
	return s
}

// Lease is one admitted request to a host: Report its outcome once the answer's headers are
// in, Release the connection slot when its body is done.
type Lease struct {
	s    *hostState
	done func(breaker.Outcome)
	once sync.Once
}

// Acquire waits for a connection slot of host. It fails fast with ErrBreakerOpen (RetryAfter
// set to the remaining cooldown) while the host's breaker is open or probing.
func (h *Hosts) Acquire(ctx context.Context, host string) (*Lease, error) {
	s := h.get(host)
	done, err := s.b.Allow()
	if err != nil {
		wait := time.Second // HALF_OPEN with its probe in flight: look again shortly
		var oe *breaker.OpenError
		if errors.As(err, &oe) && oe.State == breaker.Open {
			wait = oe.Remaining
		}
		return nil, &Error{Class: recovery.ClassNetwork, RetryAfter: wait, Err: fmt.Errorf("%w %s: %w", ErrBreakerOpen, host, err)}
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		done(breaker.Excluded)
		return nil, ctx.Err()
	}
	return &Lease{s: s, done: done}, nil
}

// Report records the outcome of the request (only the first report counts).
func (l *Lease) Report(err error) {
	l.once.Do(func() { l.done(outcomeOf(err)) })
}

// Release frees the slot; a request never reported counts as neither success nor failure.
func (l *Lease) Release() {
	l.once.Do(func() { l.done(breaker.Excluded) })
	<-l.s.sem
}

// State returns host's breaker state.
func (h *Hosts) State(host string) breaker.State { return h.get(host).b.State() }

// outcomeOf: only failures that say "this host is unhealthy" count; our own cancellation says
// nothing either way.
func outcomeOf(err error) breaker.Outcome {
	switch ClassOf(err) {
	case "":
		return breaker.Success
	case recovery.ClassNetwork, recovery.ClassTimeout:
		return breaker.Failure
	case recovery.ClassCancelled:
		return breaker.Excluded
	}
	return breaker.Success
}
