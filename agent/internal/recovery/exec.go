package recovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery/breaker"
	"github.com/comfylauncher/launcher/agent/internal/recovery/clock"
)

// Cancellation causes, so the executor knows why a step's context ended.
var (
	errStopping = errors.New("agent is stopping")
	errCancel   = errors.New("operation cancelled")
	errPause    = errors.New("operation paused")
)

// executor runs an operation's steps: it takes the target's breaker, persists each state
// before acting on it, classifies a failed step, asks the strategies whether and when to retry,
// and on a terminal state publishes it, records it in the history and calls OnTerminal.
type executor struct {
	opts       Options
	clk        clock.Clock
	log        *slog.Logger
	defs       *definitions
	ops        *opStore
	sched      *scheduler
	breakers   *breakerSet
	strategies *strategies
	history    *history
	events     *eventPublisher
}

// runOp runs id's steps from its current one until it finishes, must wait (retry backoff or
// an open breaker; it is re-queued by a timer) or the runner stops.
func (e *executor) runOp(parent context.Context, id string) {
	e.ops.mu.Lock()
	rec, ok := e.ops.recs[id]
	if !ok || !rec.op.State.Active() {
		e.ops.mu.Unlock()
		return
	}
	if rec.running {
		// Its retry timer fired before the previous run finished unwinding: run it again
		// once that run is done instead of losing the wake-up.
		rec.rerun = true
		e.ops.mu.Unlock()
		return
	}
	function := rec.op.FunctionName
	ctx, cancel := context.WithCancelCause(parent)
	rec.running = true
	rec.cancel = cancel
	rec.stepDone = make(chan struct{})
	stepDone := rec.stepDone
	if rec.runStart.IsZero() {
		rec.runStart = e.clk.Now()
	}
	e.ops.mu.Unlock()
	def := e.defs.get(function)
	defer func() {
		e.haltLate(ctx, rec)
		// running is cleared (under ops.mu, where haltLate last looked) before the context
		// is released, so a Cancel or Pause from now on takes the not-running path.
		rec.running = false
		rec.cancel = nil
		rerun := rec.rerun
		rec.rerun = false
		e.ops.mu.Unlock()
		cancel(nil)
		close(stepDone)
		e.ops.notify(rec)
		if rerun {
			e.sched.enqueue(id) // unless the runner is stopping
		}
	}()

	if def == nil {
		snap, _ := e.ops.update(rec, func(op *Operation) {
			markTerminal(op, e.clk.Now(), StateFailed, ClassUnknown, fmt.Errorf("operation type %q is not registered in this agent", op.FunctionName))
		})
		e.finish(rec, snap)
		return
	}
	for {
		if cause := context.Cause(ctx); cause != nil {
			if errors.Is(cause, errCancel) || errors.Is(cause, errPause) {
				snap, _ := e.ops.update(rec, func(op *Operation) { markHalted(op, cause, e.clk.Now()) })
				e.finish(rec, snap)
			}
			return
		}
		e.ops.mu.Lock()
		i := rec.op.CurrentStep
		e.ops.mu.Unlock()
		if i >= len(def.Steps) {
			snap, err := e.ops.update(rec, func(op *Operation) {
				op.State = StateSuccess
				op.Error, op.ErrorClass, op.Suggestions = "", "", nil
				op.NextAttemptAt = nil
				op.FinishedAt = ptrTime(e.clk.Now())
			})
			if err != nil {
				e.log.Error("persist success", "op", id, "err", err)
			}
			e.finish(rec, snap)
			return
		}
		if !e.runStep(ctx, rec, def, i) {
			return
		}
	}
}

// haltLate marks rec cancelled (or paused) when a Cancel or Pause reached the run after its
// step's outcome was decided, e.g. between a failed step scheduling its retry and the run
// returning: the operation would otherwise stay recovering with its retry timer dropped by the
// halt, and the Cancel would wait for a final state forever. It returns with ops.mu held, the
// operation either halted or not asked to halt: a halt arriving after that sees it not running
// and marks it itself.
func (e *executor) haltLate(ctx context.Context, rec *opRec) {
	for {
		e.ops.mu.Lock()
		cause := context.Cause(ctx)
		if !(errors.Is(cause, errCancel) || errors.Is(cause, errPause)) || !rec.op.State.Active() {
			return
		}
		e.ops.mu.Unlock()
		e.sched.cancelTimer(rec.op.ID)
		snap, err := e.ops.update(rec, func(op *Operation) { markHalted(op, cause, e.clk.Now()) })
		if err != nil {
			e.log.Error("persist halt", "op", snap.ID, "err", err)
		}
		e.finish(rec, snap)
	}
}

// runStep runs step i once. It returns true when the step succeeded and the next may run.
func (e *executor) runStep(ctx context.Context, rec *opRec, def *Definition, i int) bool {
	id := rec.op.ID
	be := e.breakerFor(def, rec)
	var done func(breaker.Outcome)
	if be != nil {
		var err error
		done, err = be.b.Allow()
		if err != nil {
			e.breakerRefused(rec, be, err)
			return false
		}
		e.ops.mu.Lock()
		rec.breakerWaitAt = time.Time{}
		e.ops.mu.Unlock()
	}
	report := func(o breaker.Outcome) {
		if done != nil {
			done(o)
		}
	}

	snap, err := e.ops.update(rec, func(op *Operation) {
		now := e.clk.Now()
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
		snap, _ = e.ops.update(rec, func(op *Operation) {
			markTerminal(op, e.clk.Now(), StateFailed, Classify(err), fmt.Errorf("persist operation state: %w", err))
		})
		e.finish(rec, snap)
		return false
	}
	e.events.update(snap, nil)

	started := e.clk.Now()
	stepErr := e.callStep(ctx, rec, def.Steps[i], i)
	cause := context.Cause(ctx)

	if errors.Is(cause, errStopping) {
		// Shutdown: leave the persisted state as is; Start resumes this step.
		report(breaker.Excluded)
		return false
	}
	if stepErr == nil {
		report(breaker.Success)
		snap, err := e.ops.update(rec, func(op *Operation) {
			st := &op.Steps[i]
			st.State = StateSuccess
			st.Error = ""
			st.FinishedAt = ptrTime(e.clk.Now())
			op.CurrentStep = i + 1
			if op.CurrentStep < len(op.Steps) {
				op.Attempt = 1
			}
		})
		if err != nil {
			e.log.Error("persist step success", "op", id, "step", def.Steps[i].Name, "err", err)
		}
		if snap.CurrentStep < len(snap.Steps) {
			// Announce the step change; after the last step the success update follows at once.
			e.events.update(snap, map[string]any{"completed_step": def.Steps[i].Name})
		}
		return true
	}
	if errors.Is(cause, errCancel) || errors.Is(cause, errPause) {
		report(breaker.Excluded)
		snap, _ := e.ops.update(rec, func(op *Operation) { markHalted(op, cause, e.clk.Now()) })
		e.finish(rec, snap)
		return false
	}

	e.stepFailed(ctx, rec, def, i, stepErr, report, started)
	return false
}

// stepFailed classifies a failed step, reports it to the breaker and asks the strategies:
// the operation fails, is exhausted, or waits (recovering) for a retry timer.
func (e *executor) stepFailed(ctx context.Context, rec *opRec, def *Definition, i int, stepErr error, report func(breaker.Outcome), started time.Time) {
	id := rec.op.ID
	class := Classify(stepErr)
	e.ops.mu.Lock()
	attempt := rec.op.Attempt
	elapsed := e.clk.Now().Sub(rec.runStart)
	maxAttempts := rec.op.MaxAttempts
	e.ops.mu.Unlock()
	dec := e.strategies.decide(ctx, def.Name, class, stepErr, attempt, elapsed)
	if dec.class != "" {
		class = dec.class
	}
	if class.TripsBreaker() {
		report(breaker.Failure)
	} else {
		report(breaker.Excluded)
	}
	e.log.Info("step failed", "op", id, "step", def.Steps[i].Name, "attempt", attempt, "class", class, "err", stepErr, "took", e.clk.Now().Sub(started))

	if !dec.retry || e.opts.Disabled {
		snap, _ := e.ops.update(rec, func(op *Operation) {
			markTerminal(op, e.clk.Now(), StateFailed, class, stepErr)
			op.Suggestions = withSuggestion(dec.suggestion, op.Suggestions)
		})
		e.finish(rec, snap)
		return
	}
	limit := maxAttempts
	if p := e.strategies.policy.Policy(class); p.MaxAttempts > 0 && p.MaxAttempts < limit {
		limit = p.MaxAttempts
	}
	if attempt >= limit {
		snap, _ := e.ops.update(rec, func(op *Operation) {
			markTerminal(op, e.clk.Now(), StateExhausted, class, stepErr)
			op.Suggestions = withSuggestion(dec.suggestion, op.Suggestions)
		})
		e.finish(rec, snap)
		return
	}
	delay := dec.delay
	if ra, ok := RetryAfter(stepErr); ok {
		delay = max(delay, min(ra, e.opts.MaxRetryAfter))
	}
	snap, err := e.ops.update(rec, func(op *Operation) {
		now := e.clk.Now()
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
		e.log.Error("persist recovering", "op", id, "err", err)
	}
	e.history.addRetry()
	e.events.update(snap, map[string]any{"retry_in_seconds": delay.Seconds(), "error_class": class})
	e.sched.after(id, delay)
}

func (e *executor) callStep(ctx context.Context, rec *opRec, s Step, i int) (err error) {
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("step panicked", "op", rec.op.ID, "step", s.Name, "panic", p, "stack", string(debug.Stack()))
			err = WithClass(ClassUnknown, fmt.Errorf("step %s panicked: %v", s.Name, p))
		}
	}()
	return s.Run(ctx, &Op{e: e, rec: rec, step: i})
}

// finish publishes a terminal state, records it in the history and calls OnTerminal.
func (e *executor) finish(rec *opRec, snap Operation) {
	def := e.defs.get(snap.FunctionName)
	e.ops.mu.Lock()
	start := rec.runStart
	rec.runStart = time.Time{}
	e.ops.mu.Unlock()
	e.events.update(snap, nil)
	e.events.completed(snap, start)
	e.history.recordTerminal(snap)
	defer e.ops.maybePrune()
	if def != nil && def.OnTerminal != nil {
		func() {
			defer func() {
				if p := recover(); p != nil {
					e.log.Error("OnTerminal panicked", "op", snap.ID, "panic", p)
				}
			}()
			def.OnTerminal(context.Background(), snap)
		}()
	}
}

// breakerFor returns the breaker guarding rec's target; nil when the definition names no
// target or breakers are disabled.
func (e *executor) breakerFor(def *Definition, rec *opRec) *breakerEntry {
	if def.Target == nil || e.opts.Disabled {
		return nil
	}
	e.ops.mu.Lock()
	meta := rec.op.clone().Metadata
	e.ops.mu.Unlock()
	target := def.Target(meta)
	if target == "" {
		return nil
	}
	return e.breakers.get(def.Name, target)
}

// breakerRefused handles an open breaker: the operation waits (state recovering, re-queued
// when the breaker probes again) as long as its total wait stays within Breaker.MaxWait;
// beyond that it fails with an error naming the breaker and the time left.
func (e *executor) breakerRefused(rec *opRec, be *breakerEntry, err error) {
	var oe *breaker.OpenError
	errors.As(err, &oe)
	wait := time.Second // HALF_OPEN with its probe in flight: look again shortly
	if oe != nil && oe.State == breaker.Open {
		wait = oe.Remaining
	}
	now := e.clk.Now()
	e.ops.mu.Lock()
	if rec.breakerWaitAt.IsZero() {
		rec.breakerWaitAt = now
	}
	waited := now.Sub(rec.breakerWaitAt)
	e.ops.mu.Unlock()
	if waited+wait > e.opts.Breaker.MaxWait {
		e.ops.mu.Lock()
		rec.breakerWaitAt = time.Time{}
		e.ops.mu.Unlock()
		ferr := fmt.Errorf("%w (the operation waited %s; retry it after the breaker closes)", err, waited.Round(time.Second))
		snap, _ := e.ops.update(rec, func(op *Operation) { markTerminal(op, e.clk.Now(), StateFailed, ClassNetwork, ferr) })
		e.finish(rec, snap)
		return
	}
	snap, perr := e.ops.update(rec, func(op *Operation) {
		op.State = StateRecovering
		op.Error = err.Error()
		op.ErrorClass = ClassNetwork
		op.NextAttemptAt = ptrTime(now.Add(wait))
		op.Metadata["waiting_for_breaker"] = be.b.Name()
	})
	if perr != nil {
		e.log.Error("persist breaker wait", "op", snap.ID, "err", perr)
	}
	e.events.update(snap, map[string]any{"retry_in_seconds": wait.Seconds(), "breaker": be.b.Name()})
	e.sched.after(snap.ID, wait)
}
