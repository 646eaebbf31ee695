package recovery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery/clock"
)

// scheduler decides when operations run: it keeps the queue and the retry timers, hands out
// the Workers slots, and starts and stops the dispatcher. What a run does is run's business
// (the executor's runOp).
type scheduler struct {
	clk clock.Clock
	run func(ctx context.Context, id string)
	// slots holds one token per running operation, Workers at most (see slot).
	slots chan struct{}
	wake  chan struct{}
	wg    sync.WaitGroup

	mu sync.Mutex
	// timers re-queue operations waiting for a retry or an open breaker, by id.
	timers    map[string]clock.Timer
	queue     []string
	started   bool
	stopping  bool
	runCancel context.CancelCauseFunc
}

func newScheduler(workers int, clk clock.Clock) *scheduler {
	return &scheduler{clk: clk, slots: make(chan struct{}, workers), wake: make(chan struct{}, 1), timers: map[string]clock.Timer{}}
}

// begin marks the scheduler started and returns the context runs get; Stop cancels it.
func (s *scheduler) begin(ctx context.Context) (context.Context, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return nil, errors.New("recovery: runner already started")
	}
	s.started = true
	s.stopping = false
	runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	s.runCancel = cancel
	return runCtx, nil
}

// start queues resume (before anything queued while Start ran), schedules later and starts
// the dispatcher.
func (s *scheduler) start(ctx context.Context, resume []string, later map[string]time.Duration) {
	s.mu.Lock()
	queued := map[string]bool{}
	for _, id := range resume {
		queued[id] = true
	}
	for _, id := range s.queue {
		if !queued[id] {
			resume = append(resume, id)
		}
	}
	s.queue = resume
	s.mu.Unlock()
	for id, d := range later {
		s.after(id, d)
	}
	s.wg.Add(1)
	go s.dispatch(ctx)
	s.signal()
}

// stop cancels the runs' context and waits (until ctx ends) for the dispatcher and every run
// to return. Queued and scheduled operations stay as persisted and resume at the next Start.
func (s *scheduler) stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.started || s.stopping {
		s.mu.Unlock()
		return nil
	}
	s.stopping = true
	s.runCancel(errStopping)
	for id, t := range s.timers {
		t.Stop()
		delete(s.timers, id)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	s.signal()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("recovery: stop: %w", ctx.Err())
	}
	s.mu.Lock()
	s.started = false
	s.queue = nil
	s.mu.Unlock()
	return nil
}

// isStopping reports whether Stop has begun (and Start not run since).
func (s *scheduler) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

func (s *scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// enqueue queues id to run; once Stop has begun it does nothing (the operation is persisted
// and resumes at the next Start).
func (s *scheduler) enqueue(id string) {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return
	}
	s.queue = append(s.queue, id)
	s.mu.Unlock()
	s.signal()
}

// after queues id once d has passed on the clock, replacing its earlier timer; once Stop has
// begun it does nothing.
func (s *scheduler) after(id string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return
	}
	if t := s.timers[id]; t != nil {
		t.Stop()
	}
	var t clock.Timer
	t = s.clk.AfterFunc(d, func() {
		s.mu.Lock()
		if s.timers[id] == t {
			delete(s.timers, id)
		}
		s.mu.Unlock()
		s.enqueue(id)
	})
	s.timers[id] = t
}

// cancelTimer drops id's pending timer, if any.
func (s *scheduler) cancelTimer(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.timers[id]; t != nil {
		t.Stop()
		delete(s.timers, id)
	}
}

// dispatch runs queued operations, each in its own goroutine holding one of the Workers
// slots, until ctx ends. It waits for work before it takes a slot (an idle dispatcher must not
// keep one from a parent resuming after Wait), and takes the slot before the operation, so a
// queued operation waits in the queue, not in a goroutine.
func (s *scheduler) dispatch(ctx context.Context) {
	defer s.wg.Done()
	for {
		if !s.awaitWork(ctx) {
			return
		}
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		id, ok := s.pop()
		if !ok {
			<-s.slots
			continue
		}
		sl := &slot{s: s, held: true}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer sl.end()
			s.run(context.WithValue(ctx, slotKey{}, sl), id)
		}()
	}
}

// awaitWork waits until an operation is queued; false once the runner stops.
func (s *scheduler) awaitWork(ctx context.Context) bool {
	for {
		s.mu.Lock()
		stopping, queued := s.stopping, len(s.queue) > 0
		s.mu.Unlock()
		switch {
		case stopping:
			return false
		case queued:
			return true
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return false
		}
	}
}

// pop takes the next queued operation.
func (s *scheduler) pop() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping || len(s.queue) == 0 {
		return "", false
	}
	id := s.queue[0]
	s.queue = s.queue[1:]
	return id, true
}

// slotKey is the context key of a running operation's *slot.
type slotKey struct{}

// slot is a running operation's claim on one of the Workers. While a step waits for another
// operation of the same runner (Wait, e.g. an install waiting for its model download), the
// claim is given back and taken again afterwards: a parent never holds the worker its child
// needs, so as many waiting parents as workers cannot starve their children.
type slot struct {
	s *scheduler
	// mu is held while the slot is taken back, so a concurrent yield sees the result.
	mu      sync.Mutex
	waiting int  // goroutines of the step inside Wait
	held    bool // the operation holds a token of s.slots
	done    bool // the operation's run ended
}

// slotOf returns the slot of a step of s running with ctx, or nil.
func (s *scheduler) slotOf(ctx context.Context) *slot {
	if sl, ok := ctx.Value(slotKey{}).(*slot); ok && sl.s == s {
		return sl
	}
	return nil
}

// yield gives the token back when the first goroutine of the step starts waiting.
func (sl *slot) yield() {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.waiting++
	if sl.waiting == 1 && sl.held {
		sl.held = false
		<-sl.s.slots
	}
}

// reclaim takes a token again when the last waiting goroutine of the step resumes; it waits
// for a free worker like any queued operation.
func (sl *slot) reclaim() {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.waiting--
	if sl.waiting == 0 && !sl.held && !sl.done {
		sl.s.slots <- struct{}{}
		sl.held = true
	}
}

// end returns the token when the operation's run is over.
func (sl *slot) end() {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.done = true
	if sl.held {
		sl.held = false
		<-sl.s.slots
	}
}
