package recovery

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/agent/internal/recovery/breaker"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

func (r *Runner) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Runner) signalAll() { r.signal() }

func (r *Runner) enqueue(id string) {
	r.mu.Lock()
	r.queue = append(r.queue, id)
	r.mu.Unlock()
	r.signal()
}

// scheduleLocked re-queues rec after d on the runner's clock.
func (r *Runner) scheduleLocked(rec *opRec, d time.Duration) {
	if rec.timer != nil {
		rec.timer.Stop()
	}
	id := rec.op.ID
	rec.timer = r.clk.AfterFunc(d, func() {
		r.mu.Lock()
		rec.timer = nil
		stopping := r.stopping
		r.mu.Unlock()
		if !stopping {
			r.enqueue(id)
		}
	})
}

// dispatch runs queued operations, each in its own goroutine holding one of the Workers
// slots, until ctx ends. It waits for work before it takes a slot (an idle dispatcher must not
// keep one from a parent resuming after Wait), and takes the slot before the operation, so a
// queued operation waits in the queue, not in a goroutine.
func (r *Runner) dispatch(ctx context.Context) {
	defer r.wg.Done()
	for {
		if !r.awaitWork(ctx) {
			return
		}
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		id, ok := r.pop()
		if !ok {
			<-r.slots
			continue
		}
		sl := &slot{r: r, held: true}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer sl.end()
			r.runOp(context.WithValue(ctx, slotKey{}, sl), id)
		}()
	}
}

// awaitWork waits until an operation is queued; false once the runner stops.
func (r *Runner) awaitWork(ctx context.Context) bool {
	for {
		r.mu.Lock()
		stopping, queued := r.stopping, len(r.queue) > 0
		r.mu.Unlock()
		switch {
		case stopping:
			return false
		case queued:
			return true
		}
		select {
		case <-r.wake:
		case <-ctx.Done():
			return false
		}
	}
}

// pop takes the next queued operation.
func (r *Runner) pop() (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping || len(r.queue) == 0 {
		return "", false
	}
	id := r.queue[0]
	r.queue = r.queue[1:]
	return id, true
}

// slotKey is the context key of a running operation's *slot.
type slotKey struct{}

// slot is a running operation's claim on one of the Workers. While a step waits for another
// operation of the same runner (Wait, e.g. an install waiting for its model download), the
// claim is given back and taken again afterwards: a parent never holds the worker its child
// needs, so as many waiting parents as workers cannot starve their children.
type slot struct {
	r *Runner
	// mu is held while the slot is taken back, so a concurrent yield sees the result.
	mu      sync.Mutex
	waiting int  // goroutines of the step inside Wait
	held    bool // the operation holds a token of r.slots
	done    bool // the operation's run ended
}

// yield gives the token back when the first goroutine of the step starts waiting.
func (s *slot) yield() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waiting++
	if s.waiting == 1 && s.held {
		s.held = false
		<-s.r.slots
	}
}

// reclaim takes a token again when the last waiting goroutine of the step resumes; it waits
// for a free worker like any queued operation.
func (s *slot) reclaim() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waiting--
	if s.waiting == 0 && !s.held && !s.done {
		s.r.slots <- struct{}{}
		s.held = true
	}
}

// end returns the token when the operation's run is over.
func (s *slot) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	if s.held {
		s.held = false
		<-s.r.slots
	}
}

// runOp runs id's steps from its current one until it finishes, must wait (retry backoff or
// an open breaker; it is re-queued by a timer) or the runner stops.
func (r *Runner) runOp(parent context.Context, id string) {
	r.mu.Lock()
	rec, ok := r.ops[id]
	if !ok || !rec.op.State.Active() {
		r.mu.Unlock()
		return
	}
	if rec.running {
		// Its retry timer fired before the previous run finished unwinding: run it again
		// once that run is done instead of losing the wake-up.
		rec.rerun = true
		r.mu.Unlock()
		return
	}
	def := r.defs[rec.op.FunctionName]
	ctx, cancel := context.WithCancelCause(parent)
	rec.running = true
	rec.cancel = cancel
	rec.stepDone = make(chan struct{})
	stepDone := rec.stepDone
	if rec.runStart.IsZero() {
		rec.runStart = r.clk.Now()
	}
	r.mu.Unlock()
	defer func() {
		cancel(nil)
		r.mu.Lock()
		rec.running = false
		rec.cancel = nil
		rerun := rec.rerun && !r.stopping
		rec.rerun = false
		r.mu.Unlock()
		close(stepDone)
		r.notify(rec)
		if rerun {
			r.enqueue(id)
		}
	}()

	if def == nil {
		snap, _ := r.update(rec, func(op *Operation) {
			r.markTerminal(op, StateFailed, ClassUnknown, fmt.Errorf("operation type %q is not registered in this agent", op.FunctionName))
		})
		r.finish(rec, snap)
		return
	}
	for {
		if cause := context.Cause(ctx); cause != nil {
			if errors.Is(cause, errCancel) || errors.Is(cause, errPause) {
				snap, _ := r.update(rec, func(op *Operation) { r.markHalted(op, cause) })
				r.finish(rec, snap)
			}
			return
		}
		r.mu.Lock()
		i := rec.op.CurrentStep
		r.mu.Unlock()
		if i >= len(def.Steps) {
			snap, err := r.update(rec, func(op *Operation) {
				op.State = StateSuccess
				op.Error, op.ErrorClass, op.Suggestions = "", "", nil
				op.NextAttemptAt = nil
				op.FinishedAt = ptrTime(r.clk.Now())
			})
			if err != nil {
				r.log.Error("persist success", "op", id, "err", err)
			}
			r.finish(rec, snap)
			return
		}
		if !r.runStep(ctx, rec, def, i) {
			return
		}
	}
}

// runStep runs step i once. It returns true when the step succeeded and the next may run.
func (r *Runner) runStep(ctx context.Context, rec *opRec, def *Definition, i int) bool {
	id := rec.op.ID
	be := r.breakerFor(def, rec)
	var done func(breaker.Outcome)
	if be != nil {
		var err error
		done, err = be.b.Allow()
		if err != nil {
			r.breakerRefused(rec, be, err)
			return false
		}
		r.mu.Lock()
		rec.breakerWaitAt = time.Time{}
		r.mu.Unlock()
	}
	report := func(o breaker.Outcome) {
		if done != nil {
			done(o)
		}
	}

	snap, err := r.update(rec, func(op *Operation) {
		now := r.clk.Now()
		op.State = StateInProgress
		if op.Attempt < 1 {
			op.Attempt = 1
		}
		if op.StartedAt == nil {
			op.StartedAt = ptrTime(now)
		}
		op.NextAttemptAt = nil
		op.TotalAttempts++
		delete(op.Metadata, "waiting_for_breaker")
		st := &op.Steps[i]
		st.State = StateInProgress
		st.Attempts++
		st.StartedAt = ptrTime(now)
	})
	if err != nil {
		report(breaker.Excluded)
		// The state could not be recorded, so the step must not run.
		snap, _ = r.update(rec, func(op *Operation) {
			r.markTerminal(op, StateFailed, Classify(err), fmt.Errorf("persist operation state: %w", err))
		})
		r.finish(rec, snap)
		return false
	}
	r.publishUpdate(snap, nil)

	started := r.clk.Now()
	stepErr := r.callStep(ctx, rec, def.Steps[i], i)
	cause := context.Cause(ctx)

	if errors.Is(cause, errStopping) {
		// Shutdown: leave the persisted state as is; Start resumes this step.
		report(breaker.Excluded)
		return false
	}
	if stepErr == nil {
		report(breaker.Success)
		snap, err := r.update(rec, func(op *Operation) {
			st := &op.Steps[i]
			st.State = StateSuccess
			st.Error = ""
			st.FinishedAt = ptrTime(r.clk.Now())
			op.CurrentStep = i + 1
			if op.CurrentStep < len(op.Steps) {
				op.Attempt = 1
			}
		})
		if err != nil {
			r.log.Error("persist step success", "op", id, "step", def.Steps[i].Name, "err", err)
		}
		if snap.CurrentStep < len(snap.Steps) {
			// Announce the step change; after the last step the success update follows at once.
			r.publishUpdate(snap, map[string]any{"completed_step": def.Steps[i].Name})
		}
		return true
	}
	if errors.Is(cause, errCancel) || errors.Is(cause, errPause) {
		report(breaker.Excluded)
		snap, _ := r.update(rec, func(op *Operation) { r.markHalted(op, cause) })
		r.finish(rec, snap)
		return false
	}

	class := Classify(stepErr)
	r.mu.Lock()
	attempt := rec.op.Attempt
	elapsed := r.clk.Now().Sub(rec.runStart)
	maxAttempts := rec.op.MaxAttempts
	r.mu.Unlock()
	dec := r.decide(ctx, def.Name, class, stepErr, attempt, elapsed)
	if dec.class != "" {
		class = dec.class
	}
	if class.TripsBreaker() {
		report(breaker.Failure)
	} else {
		report(breaker.Excluded)
	}
	r.log.Info("step failed", "op", id, "step", def.Steps[i].Name, "attempt", attempt, "class", class, "err", stepErr, "took", r.clk.Now().Sub(started))

	if !dec.retry || r.opts.Disabled {
		snap, _ := r.update(rec, func(op *Operation) {
			r.markTerminal(op, StateFailed, class, stepErr)
			op.Suggestions = withSuggestion(dec.suggestion, op.Suggestions)
		})
		r.finish(rec, snap)
		return false
	}
	limit := maxAttempts
	if p := r.defaultStrategy.Policy(class); p.MaxAttempts > 0 && p.MaxAttempts < limit {
		limit = p.MaxAttempts
	}
	if attempt >= limit {
		snap, _ := r.update(rec, func(op *Operation) {
			r.markTerminal(op, StateExhausted, class, stepErr)
			op.Suggestions = withSuggestion(dec.suggestion, op.Suggestions)
		})
		r.finish(rec, snap)
		return false
	}
	delay := dec.delay
	if ra, ok := RetryAfter(stepErr); ok {
		delay = max(delay, min(ra, r.opts.MaxRetryAfter))
	}
	snap, err = r.update(rec, func(op *Operation) {
		now := r.clk.Now()
		op.State = StateRecovering
		op.Attempt++
		op.Retries++
		op.Error = stepErr.Error()
		op.ErrorClass = class
		op.Suggestions = withSuggestion(dec.suggestion, Suggestions(class))
		op.NextAttemptAt = ptrTime(now.Add(delay))
		if op.FirstFailureAt == nil {
			op.FirstFailureAt = ptrTime(now)
		}
		st := &op.Steps[i]
		st.State = StateRecovering
		st.Error = stepErr.Error()
	})
	if err != nil {
		r.log.Error("persist recovering", "op", id, "err", err)
	}
	r.addRetry()
	r.publishUpdate(snap, map[string]any{"retry_in_seconds": delay.Seconds(), "error_class": class})
	r.mu.Lock()
	if !r.stopping {
		r.scheduleLocked(rec, delay)
	}
	r.mu.Unlock()
	return false
}

func (r *Runner) callStep(ctx context.Context, rec *opRec, s Step, i int) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("step panicked", "op", rec.op.ID, "step", s.Name, "panic", p, "stack", string(debug.Stack()))
			err = WithClass(ClassUnknown, fmt.Errorf("step %s panicked: %v", s.Name, p))
		}
	}()
	return s.Run(ctx, &Op{r: r, rec: rec, step: i})
}

// withSuggestion puts a strategy's suggestion first (once) before the class's own.
func withSuggestion(s string, rest []string) []string {
	if s == "" {
		return rest
	}
	out := []string{s}
	for _, x := range rest {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func (r *Runner) markTerminal(op *Operation, st State, class Class, err error) {
	op.State = st
	op.ErrorClass = class
	if err != nil {
		op.Error = err.Error()
	}
	op.Suggestions = Suggestions(class)
	op.NextAttemptAt = nil
	op.FinishedAt = ptrTime(r.clk.Now())
	if op.CurrentStep < len(op.Steps) {
		op.Steps[op.CurrentStep].State = st
		if err != nil {
			op.Steps[op.CurrentStep].Error = err.Error()
		}
	}
}

// finish publishes a terminal state, records it in the metrics and calls OnTerminal.
func (r *Runner) finish(rec *opRec, snap Operation) {
	r.mu.Lock()
	def := r.defs[snap.FunctionName]
	start := rec.runStart
	rec.runStart = time.Time{}
	r.mu.Unlock()
	r.publishUpdate(snap, nil)
	r.publishCompleted(snap, start)
	r.recordTerminal(snap)
	defer r.maybePrune()
	if def != nil && def.OnTerminal != nil {
		func() {
			defer func() {
				if p := recover(); p != nil {
					r.log.Error("OnTerminal panicked", "op", snap.ID, "panic", p)
				}
			}()
			def.OnTerminal(context.Background(), snap)
		}()
	}
}

type decision struct {
	retry bool
	delay time.Duration
	class Class
	// suggestion is the deciding strategy's advice, shown first on the operation.
	suggestion string
}

// decide asks the registry's recovery strategies in order; the first that does not answer
// "not mine" decides. A strategy that errors is skipped (and its error recorded in the
// registry): a broken extension must not stop recovery. When none decides, the policy table
// does.
func (r *Runner) decide(ctx context.Context, function string, class Class, err error, attempt int, elapsed time.Duration) decision {
	in := sdk.StrategyInput{Class: string(class), Message: err.Error(), Attempt: attempt, Elapsed: elapsed.Seconds(), Function: function}
	if code, ok := exitCode(err); ok {
		in.ExitCode = code
	}
	for _, e := range r.ext.Ordered(sdk.CapRecoveryStrategy) {
		s, ok := e.Impl().(Strategy)
		if !ok {
			continue
		}
		d, serr := extension.Call(ctx, e, func(ctx context.Context) (sdk.StrategyDecision, error) { return s.Decide(ctx, in) })
		if serr != nil {
			r.log.Warn("recovery strategy failed; asking the next", "strategy", e.ID(), "err", serr)
			continue
		}
		if d.NotMine {
			continue
		}
		return r.toDecision(in, d)
	}
	d, _ := r.defaultStrategy.Decide(ctx, in)
	return r.toDecision(in, d)
}

func (r *Runner) toDecision(in sdk.StrategyInput, d sdk.StrategyDecision) decision {
	out := decision{retry: d.Retry, suggestion: d.Suggestion}
	c := Class(in.Class)
	if d.Class != "" && Class(d.Class).Valid() {
		out.class = Class(d.Class)
		c = out.class
	}
	if d.DelaySeconds < 0 {
		p := r.defaultStrategy.Policy(c)
		out.delay = Backoff(p, in.Attempt, r.opts.Rand())
	} else {
		out.delay = time.Duration(d.DelaySeconds * float64(time.Second))
	}
	return out
}
