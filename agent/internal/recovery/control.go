package recovery

import (
	"context"
	"fmt"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// cancelWait bounds how long Cancel waits for a running step to return.
const cancelWait = 15 * time.Second

// Cancel stops an operation: a running step's context is cancelled (so exec.CommandContext
// kills its subprocess) and the state becomes cancelled once the step has returned. Partial
// data (checkpoints, .part files) is kept so Retry resumes it.
func (r *Runner) Cancel(id string) error { return r.halt(id, errCancel) }

// Pause is Cancel with metadata paused=true; Resume continues the operation.
func (r *Runner) Pause(id string) error { return r.halt(id, errPause) }

func (r *Runner) halt(id string, cause error) error {
	r.mu.Lock()
	rec, ok := r.ops[id]
	if !ok {
		r.mu.Unlock()
		return notFound(id)
	}
	if rec.op.State.Terminal() && !rec.running {
		st := rec.op.State
		r.mu.Unlock()
		return apierr.Newf(apierr.Conflict, "ConflictError", "operation %s is already %s", id, st).
			Suggest("Only pending, in_progress or recovering operations can be cancelled; use retry to run it again")
	}
	if rec.timer != nil {
		rec.timer.Stop()
		rec.timer = nil
	}
	running := rec.running
	stepDone := rec.stepDone
	if running && rec.cancel != nil {
		rec.cancel(cause)
	}
	if !running {
		// Decided under the lock, so a worker that picks the operation up next sees it
		// cancelled and skips it.
		r.markHalted(&rec.op, cause)
	}
	r.mu.Unlock()

	if running {
		// The worker persists the cancelled state once the step returns.
		select {
		case <-stepDone:
		case <-time.After(cancelWait):
			return apierr.Newf(apierr.Unavailable, "CancelTimeoutError", "operation %s did not stop within %s", id, cancelWait).
				Suggest("The step ignores cancellation; it is marked and will stop at its next check. Query the operation again shortly")
		}
		_, err := r.Wait(context.Background(), id)
		return err
	}
	// Not running: queued or waiting for a retry; the worker skips it once it is terminal.
	snap, err := r.update(rec, func(*Operation) {})
	if err != nil {
		return APIError(fmt.Errorf("persist cancel: %w", err), "")
	}
	r.finish(rec, snap)
	return nil
}

func (r *Runner) markHalted(op *Operation, cause error) {
	now := r.clk.Now()
	op.State = StateCancelled
	op.ErrorClass = ClassCancelled
	op.Error = cause.Error()
	op.NextAttemptAt = nil
	op.FinishedAt = ptrTime(now)
	if cause == errPause {
		op.Metadata["paused"] = true
	} else {
		delete(op.Metadata, "paused")
	}
	if op.CurrentStep < len(op.Steps) && op.Steps[op.CurrentStep].State != StatePending {
		op.Steps[op.CurrentStep].State = StateCancelled
	}
}

// Resume continues a paused operation from its first unfinished step.
func (r *Runner) Resume(id string) error {
	r.mu.Lock()
	rec, ok := r.ops[id]
	if !ok {
		r.mu.Unlock()
		return notFound(id)
	}
	paused, _ := rec.op.Metadata["paused"].(bool)
	if rec.op.State != StateCancelled || !paused || rec.running {
		st := rec.op.State
		r.mu.Unlock()
		return apierr.Newf(apierr.Conflict, "ConflictError", "operation %s is %s, not paused", id, st).
			Suggest("Only paused operations can be resumed; use retry for failed or cancelled ones")
	}
	r.mu.Unlock()
	snap, err := r.update(rec, func(op *Operation) {
		delete(op.Metadata, "paused")
		r.resetForRun(op, 0, false)
	})
	if err != nil {
		return APIError(fmt.Errorf("persist resume: %w", err), "")
	}
	r.publishUpdate(snap, nil)
	r.enqueue(id)
	return nil
}

// Retry runs an operation again from its first unfinished step with a fresh attempt budget
// (maxAttempts > 0 replaces the ceiling). An active operation is refused with Conflict unless
// force, which cancels the running attempt first. A succeeded operation is only re-run with
// force, and then from its first step. The returned retry id names this retry; the operation
// keeps its id.
func (r *Runner) Retry(id string, force bool, maxAttempts int) (string, error) {
	if maxAttempts < 0 {
		return "", apierr.New(apierr.Invalid, "ValidationError", "max_attempts must be 0 (default) or positive", "Send max_attempts between 1 and 100, or omit it")
	}
	r.mu.Lock()
	rec, ok := r.ops[id]
	if !ok {
		r.mu.Unlock()
		return "", notFound(id)
	}
	if _, ok := r.defs[rec.op.FunctionName]; !ok {
		r.mu.Unlock()
		return "", apierr.Newf(apierr.Conflict, "ConflictError", "operation type %q is not available in this agent", rec.op.FunctionName).
			Suggest("The feature that ran this operation is disabled or was removed; enable it in launcher.toml")
	}
	active := rec.op.State.Active() || rec.running
	succeeded := rec.op.State == StateSuccess
	state := rec.op.State
	r.mu.Unlock()
	if active && !force {
		return "", apierr.Newf(apierr.Conflict, "OperationRunningError", "operation %s is still %s", id, state).
			Suggest("Wait for it to finish, cancel it first, or retry with \"force\": true to restart it now")
	}
	if succeeded && !force {
		return "", apierr.Newf(apierr.Conflict, "ConflictError", "operation %s already succeeded", id).
			Suggest("Retry with \"force\": true to run every step again")
	}
	if active {
		if err := r.halt(id, errCancel); err != nil && !apierr.Is(err, apierr.Conflict) {
			return "", err
		}
	}
	var retryID string
	snap, err := r.update(rec, func(op *Operation) {
		n := 1
		if v, ok := op.Metadata["retry_count"].(float64); ok {
			n = int(v) + 1
		}
		op.Metadata["retry_count"] = float64(n)
		retryID = fmt.Sprintf("retry_%s_%d", op.ID[len("op_"):], n)
		op.RetryID = retryID
		op.Metadata["retry_id"] = retryID
		delete(op.Metadata, "paused")
		r.resetForRun(op, maxAttempts, succeeded)
	})
	if err != nil {
		return "", APIError(fmt.Errorf("persist retry: %w", err), "")
	}
	r.publishUpdate(snap, nil)
	r.enqueue(id)
	return retryID, nil
}

// resetForRun makes op pending again, keeping completed steps (unless all) and checkpoints.
func (r *Runner) resetForRun(op *Operation, maxAttempts int, all bool) {
	op.State = StatePending
	op.Attempt = 0
	op.Retries = 0
	op.Error = ""
	op.ErrorClass = ""
	op.Suggestions = nil
	op.NextAttemptAt = nil
	op.FirstFailureAt = nil
	op.FinishedAt = nil
	if maxAttempts > 0 {
		op.MaxAttempts = maxAttempts
	}
	if all {
		op.CurrentStep = 0
	}
	for i := range op.Steps {
		if i >= op.CurrentStep {
			op.Steps[i].State = StatePending
			op.Steps[i].Error = ""
			op.Steps[i].Attempts = 0
		}
	}
}
