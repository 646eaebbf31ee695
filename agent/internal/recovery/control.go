package recovery

import (
	"context"
	"fmt"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/recovery/clock"
)

// cancelWait bounds how long Cancel waits for a running step to return.
const cancelWait = 15 * time.Second

// control carries out what callers ask of operations from outside their run: submit, cancel
// (and pause), resume and retry. Each change is persisted before it is announced and queued.
type control struct {
	opts   Options
	clk    clock.Clock
	defs   *definitions
	ops    *opStore
	sched  *scheduler
	exec   *executor
	events *eventPublisher
}

// submit persists a new pending operation of function and queues it.
func (c *control) submit(function string, meta map[string]any) (string, error) {
	def := c.defs.get(function)
	if def == nil {
		return "", apierr.Newf(apierr.Invalid, "ValidationError", "unknown operation type %q", function).
			Suggest("Use one of the registered operation types: " + c.defs.names())
	}
	if c.sched.isStopping() {
		return "", apierr.New(apierr.Unavailable, "ServiceUnavailableError", "the agent is shutting down", "Submit the operation again after the agent restarts")
	}
	normMeta, err := normalize(meta)
	if err != nil {
		return "", apierr.Wrap(apierr.Invalid, "ValidationError", err, "operation metadata is not JSON-encodable", "Pass only JSON values in metadata")
	}
	m, _ := normMeta.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	op := Operation{FunctionName: function, State: StatePending, MaxAttempts: c.maxAttempts(def), Metadata: m}
	for _, s := range def.Steps {
		op.Steps = append(op.Steps, StepState{Name: s.Name, State: StatePending})
	}
	rec := c.ops.add(op)
	id := rec.op.ID
	snap, err := c.ops.update(rec, func(*Operation) {})
	if err != nil {
		c.ops.remove(id)
		return "", APIError(fmt.Errorf("persist operation: %w", err), "")
	}
	c.events.update(snap, nil)
	c.sched.enqueue(id)
	return id, nil
}

// maxAttempts is a new operation's attempt ceiling: 1 with recovery disabled, else the
// definition's or the default.
func (c *control) maxAttempts(def *Definition) int {
	if c.opts.Disabled {
		return 1
	}
	if def.MaxAttempts > 0 {
		return def.MaxAttempts
	}
	return c.opts.MaxAttempts
}

// halt cancels (cause errCancel) or pauses (errPause) an operation: a running step's context
// is cancelled and the state persisted once the step has returned; a queued or waiting one is
// marked at once.
func (c *control) halt(id string, cause error) error {
	c.ops.mu.Lock()
	rec, ok := c.ops.recs[id]
	if !ok {
		c.ops.mu.Unlock()
		return notFound(id)
	}
	if rec.op.State.Terminal() && !rec.running {
		st := rec.op.State
		c.ops.mu.Unlock()
		return apierr.Newf(apierr.Conflict, "ConflictError", "operation %s is already %s", id, st).
			Suggest("Only pending, in_progress or recovering operations can be cancelled; use retry to run it again")
	}
	running := rec.running
	stepDone := rec.stepDone
	if running && rec.cancel != nil {
		rec.cancel(cause)
	}
	if !running {
		// Decided under the lock, so a worker that picks the operation up next sees it
		// cancelled and skips it.
		markHalted(&rec.op, cause, c.clk.Now())
	}
	c.ops.mu.Unlock()
	// A retry timer that fires meanwhile is harmless: the worker skips a terminal operation.
	c.sched.cancelTimer(id)

	if running {
		// The worker persists the cancelled state once the step returns, also when the
		// step had already failed and scheduled its retry (executor.haltLate).
		select {
		case <-stepDone:
		case <-time.After(cancelWait):
			return apierr.Newf(apierr.Unavailable, "CancelTimeoutError", "operation %s did not stop within %s", id, cancelWait).
				Suggest("The step ignores cancellation; it is marked and will stop at its next check. Query the operation again shortly")
		}
		_, err := c.ops.wait(context.Background(), id)
		return err
	}
	// Not running: queued or waiting for a retry; the worker skips it once it is terminal.
	snap, err := c.ops.update(rec, func(*Operation) {})
	if err != nil {
		return APIError(fmt.Errorf("persist cancel: %w", err), "")
	}
	c.exec.finish(rec, snap)
	return nil
}

// resume continues a paused operation from its first unfinished step.
func (c *control) resume(id string) error {
	c.ops.mu.Lock()
	rec, ok := c.ops.recs[id]
	if !ok {
		c.ops.mu.Unlock()
		return notFound(id)
	}
	paused, _ := rec.op.Metadata["paused"].(bool)
	if rec.op.State != StateCancelled || !paused || rec.running {
		st := rec.op.State
		c.ops.mu.Unlock()
		return apierr.Newf(apierr.Conflict, "ConflictError", "operation %s is %s, not paused", id, st).
			Suggest("Only paused operations can be resumed; use retry for failed or cancelled ones")
	}
	c.ops.mu.Unlock()
	snap, err := c.ops.update(rec, func(op *Operation) {
		delete(op.Metadata, "paused")
		resetForRun(op, 0, false)
	})
	if err != nil {
		return APIError(fmt.Errorf("persist resume: %w", err), "")
	}
	c.events.update(snap, nil)
	c.sched.enqueue(id)
	return nil
}

// retry runs an operation again (see Runner.Retry).
func (c *control) retry(id string, force bool, maxAttempts int) (string, error) {
	if maxAttempts < 0 {
		return "", apierr.New(apierr.Invalid, "ValidationError", "max_attempts must be 0 (default) or positive", "Send max_attempts between 1 and 100, or omit it")
	}
	c.ops.mu.Lock()
	rec, ok := c.ops.recs[id]
	if !ok {
		c.ops.mu.Unlock()
		return "", notFound(id)
	}
	function := rec.op.FunctionName
	active := rec.op.State.Active() || rec.running
	succeeded := rec.op.State == StateSuccess
	state := rec.op.State
	c.ops.mu.Unlock()
	if c.defs.get(function) == nil {
		return "", apierr.Newf(apierr.Conflict, "ConflictError", "operation type %q is not available in this agent", function).
			Suggest("The feature that ran this operation is disabled or was removed; enable it in launcher.toml")
	}
	if active && !force {
		return "", apierr.Newf(apierr.Conflict, "OperationRunningError", "operation %s is still %s", id, state).
			Suggest("Wait for it to finish, cancel it first, or retry with \"force\": true to restart it now")
	}
	if succeeded && !force {
		return "", apierr.Newf(apierr.Conflict, "ConflictError", "operation %s already succeeded", id).
			Suggest("Retry with \"force\": true to run every step again")
	}
	if active {
		if err := c.halt(id, errCancel); err != nil && !apierr.Is(err, apierr.Conflict) {
			return "", err
		}
	}
	var retryID string
	snap, err := c.ops.update(rec, func(op *Operation) {
		n := 1
		if v, ok := op.Metadata["retry_count"].(float64); ok {
			n = int(v) + 1
		}
		op.Metadata["retry_count"] = float64(n)
		retryID = fmt.Sprintf("retry_%s_%d", op.ID[len("op_"):], n)
		op.RetryID = retryID
		op.Metadata["retry_id"] = retryID
		delete(op.Metadata, "paused")
		resetForRun(op, maxAttempts, succeeded)
	})
	if err != nil {
		return "", APIError(fmt.Errorf("persist retry: %w", err), "")
	}
	c.events.update(snap, nil)
	c.sched.enqueue(id)
	return retryID, nil
}
