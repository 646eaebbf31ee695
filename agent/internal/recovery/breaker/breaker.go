// Package breaker is a small circuit breaker with the semantics of sony/gobreaker v2 (its
// two-step form) and an injectable clock. We keep gobreaker's state machine (counts cleared on
// every state change and at each Interval in CLOSED, lazy OPEN->HALF_OPEN, at most MaxRequests
// probes while HALF_OPEN, generations that drop late results) and add two things the agent
// needs: a timer that announces HALF_OPEN when it happens, and an Excluded outcome for errors
// that say nothing about the target's health (404, auth, cancellation).
package breaker

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery/clock"
)

// State is a breaker state, written as the API spells it.
type State string

// Breaker states.
const (
	Closed   State = "CLOSED"
	HalfOpen State = "HALF_OPEN"
	Open     State = "OPEN"
)

// Outcome is what a guarded call reports back.
type Outcome int

// Outcomes of a call.
const (
	Success Outcome = iota
	Failure
	// Excluded counts as neither success nor failure.
	Excluded
)

// Counts are the request counts of the current generation.
type Counts struct {
	Requests             uint32 `json:"requests"`
	TotalSuccesses       uint32 `json:"total_successes"`
	TotalFailures        uint32 `json:"total_failures"`
	TotalExclusions      uint32 `json:"total_exclusions"`
	ConsecutiveSuccesses uint32 `json:"consecutive_successes"`
	ConsecutiveFailures  uint32 `json:"consecutive_failures"`
}

// Settings configure a Breaker.
type Settings struct {
	Name string
	// MaxRequests is how many probes HALF_OPEN admits and how many consecutive successes close
	// it; 0 means 1.
	MaxRequests uint32
	// Interval clears the counts periodically in CLOSED; <= 0 never clears them.
	Interval time.Duration
	// Timeout is how long OPEN lasts; <= 0 means 60s.
	Timeout time.Duration
	// ReadyToTrip decides, after each failure in CLOSED, whether to open. Nil trips on the 6th
	// consecutive failure (gobreaker's default).
	ReadyToTrip func(Counts) bool
	// OnStateChange is called after a transition, outside the breaker's lock, in the goroutine
	// that caused it (or the half-open timer's).
	OnStateChange func(name string, from, to State)
	Clock         clock.Clock
}

// ErrOpen is returned (wrapped in *OpenError) while the breaker is open.
var ErrOpen = errors.New("circuit breaker is open")

// ErrTooManyRequests is returned when HALF_OPEN has admitted all its probes.
var ErrTooManyRequests = errors.New("circuit breaker is half-open and its probe is in flight")

// OpenError names the breaker that refused a call and how long until it probes again.
type OpenError struct {
	Name      string
	State     State
	Remaining time.Duration
	Err       error
}

func (e *OpenError) Error() string {
	if e.State == HalfOpen {
		return fmt.Sprintf("circuit breaker %s is HALF_OPEN and already probing the target; try again shortly", e.Name)
	}
	return fmt.Sprintf("circuit breaker %s is OPEN after repeated failures; next probe in %s", e.Name, e.Remaining.Round(time.Second))
}

func (e *OpenError) Unwrap() error { return e.Err }

// Breaker is a circuit breaker. The zero value is not usable; call New.
type Breaker struct {
	name          string
	maxRequests   uint32
	interval      time.Duration
	timeout       time.Duration
	readyToTrip   func(Counts) bool
	onStateChange func(name string, from, to State)
	clk           clock.Clock

	mu         sync.Mutex
	state      State
	generation uint64
	counts     Counts
	expiry     time.Time
	timer      clock.Timer
	trips      uint64
}

// New returns a closed breaker.
func New(s Settings) *Breaker {
	b := &Breaker{
		name:          s.Name,
		maxRequests:   s.MaxRequests,
		interval:      s.Interval,
		timeout:       s.Timeout,
		readyToTrip:   s.ReadyToTrip,
		onStateChange: s.OnStateChange,
		clk:           s.Clock,
	}
	if b.maxRequests == 0 {
		b.maxRequests = 1
	}
	if b.timeout <= 0 {
		b.timeout = 60 * time.Second
	}
	if b.readyToTrip == nil {
		b.readyToTrip = func(c Counts) bool { return c.ConsecutiveFailures > 5 }
	}
	if b.clk == nil {
		b.clk = clock.Real()
	}
	b.state = Closed
	b.toNewGeneration(b.clk.Now())
	return b
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

type transition struct{ from, to State }

func (b *Breaker) notify(ts []transition) {
	if b.onStateChange == nil {
		return
	}
	for _, t := range ts {
		b.onStateChange(b.name, t.from, t.to)
	}
}

// State returns the current state, applying a due OPEN->HALF_OPEN or interval reset.
func (b *Breaker) State() State {
	b.mu.Lock()
	st, _, ts := b.currentState(b.clk.Now())
	b.mu.Unlock()
	b.notify(ts)
	return st
}

// Counts returns the current generation's counts.
func (b *Breaker) Counts() Counts {
	b.mu.Lock()
	_, _, ts := b.currentState(b.clk.Now())
	c := b.counts
	b.mu.Unlock()
	b.notify(ts)
	return c
}

// Remaining is how long an OPEN breaker stays open; 0 in other states.
func (b *Breaker) Remaining() time.Duration {
	b.mu.Lock()
	now := b.clk.Now()
	st, _, ts := b.currentState(now)
	var d time.Duration
	if st == Open {
		d = b.expiry.Sub(now)
	}
	b.mu.Unlock()
	b.notify(ts)
	return d
}

// Trips is how many times the breaker has opened since it was created.
func (b *Breaker) Trips() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.trips
}

// Allow asks to make a call. On success the caller must call done exactly once with the
// call's outcome. When refused, the error is an *OpenError wrapping ErrOpen or
// ErrTooManyRequests.
func (b *Breaker) Allow() (done func(Outcome), err error) {
	b.mu.Lock()
	now := b.clk.Now()
	st, gen, ts := b.currentState(now)
	switch {
	case st == Open:
		rem := b.expiry.Sub(now)
		b.mu.Unlock()
		b.notify(ts)
		return nil, &OpenError{Name: b.name, State: Open, Remaining: rem, Err: ErrOpen}
	case st == HalfOpen && b.counts.Requests >= b.maxRequests:
		b.mu.Unlock()
		b.notify(ts)
		return nil, &OpenError{Name: b.name, State: HalfOpen, Err: ErrTooManyRequests}
	}
	b.counts.Requests++
	b.mu.Unlock()
	b.notify(ts)
	var once sync.Once
	return func(o Outcome) { once.Do(func() { b.afterRequest(gen, o) }) }, nil
}

func (b *Breaker) afterRequest(before uint64, o Outcome) {
	b.mu.Lock()
	now := b.clk.Now()
	st, gen, ts := b.currentState(now)
	if gen != before {
		b.mu.Unlock()
		b.notify(ts)
		return
	}
	switch o {
	case Success:
		b.counts.TotalSuccesses++
		b.counts.ConsecutiveSuccesses++
		b.counts.ConsecutiveFailures = 0
		if st == HalfOpen && b.counts.ConsecutiveSuccesses >= b.maxRequests {
			ts = append(ts, b.setState(Closed, now))
		}
	case Failure:
		b.counts.TotalFailures++
		b.counts.ConsecutiveFailures++
		b.counts.ConsecutiveSuccesses = 0
		switch st {
		case Closed:
			if b.readyToTrip(b.counts) {
				ts = append(ts, b.setState(Open, now))
			}
		case HalfOpen:
			ts = append(ts, b.setState(Open, now))
		}
	case Excluded:
		b.counts.TotalExclusions++
		// gobreaker gives an excluded request's HALF_OPEN slot back.
		if b.counts.Requests > 0 {
			b.counts.Requests--
		}
	}
	b.mu.Unlock()
	b.notify(ts)
}

// currentState applies lazy transitions; the lock is held.
func (b *Breaker) currentState(now time.Time) (State, uint64, []transition) {
	var ts []transition
	switch b.state {
	case Closed:
		if !b.expiry.IsZero() && b.expiry.Before(now) {
			b.toNewGeneration(now)
		}
	case Open:
		if !b.expiry.After(now) {
			ts = append(ts, b.setState(HalfOpen, now))
		}
	}
	return b.state, b.generation, ts
}

func (b *Breaker) setState(to State, now time.Time) transition {
	from := b.state
	b.state = to
	b.toNewGeneration(now)
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if to == Open {
		b.trips++
		// OPEN->HALF_OPEN is lazy; the timer makes it happen (and be announced) on time.
		b.timer = b.clk.AfterFunc(b.timeout, func() { b.State() })
	}
	return transition{from, to}
}

func (b *Breaker) toNewGeneration(now time.Time) {
	b.generation++
	b.counts = Counts{}
	var zero time.Time
	switch b.state {
	case Closed:
		if b.interval <= 0 {
			b.expiry = zero
		} else {
			b.expiry = now.Add(b.interval)
		}
	case Open:
		b.expiry = now.Add(b.timeout)
	default:
		b.expiry = zero
	}
}
