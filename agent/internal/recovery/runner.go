package recovery

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/comfylauncher/launcher/agent/internal/events"
	"github.com/comfylauncher/launcher/agent/internal/extension"
)

// Publisher delivers events (topics and names in package events); the app passes the hub.
type Publisher = events.Publisher

// Step is one resumable unit of an operation. Run must return when ctx is cancelled (use
// exec.CommandContext and http.NewRequestWithContext), and must be safe to run again after a
// crash: completed steps never re-run, but the step that was running when the agent died does.
type Step struct {
	Name string
	Run  func(ctx context.Context, op *Op) error
}

// Definition is an operation type.
type Definition struct {
	// Name is the function_name, e.g. "download_model".
	Name  string
	Steps []Step
	// MaxAttempts per step; 0 means Options.MaxAttempts.
	MaxAttempts int
	// Target returns the breaker target (usually a host) for an operation's metadata; nil or
	// "" means no breaker.
	Target func(meta map[string]any) string
	// OnTerminal is called once a terminal state is persisted (from the worker goroutine).
	OnTerminal func(ctx context.Context, op Operation)
}

// Runner executes operations step by step, persisting every state change before acting on
// it, retrying by error class and resuming unfinished operations after a restart.
//
// Runner is the facade the agent uses; each behaviour lives in one small part:
//   - opStore (store.go): the operations in memory and in the store's bucket, pruning;
//   - scheduler (scheduler.go): the queue, retry timers, worker slots, start and stop;
//   - executor (exec.go): the step loop with breakers, classification and retries;
//   - control (control.go): submit, cancel, pause, resume and retry;
//   - breakerSet (breakers.go), strategies (strategies.go), history (metrics.go) and
//     eventPublisher (events.go).
type Runner struct {
	opts Options
	db   Store
	log  *slog.Logger

	defs       *definitions
	ops        *opStore
	sched      *scheduler
	exec       *executor
	ctl        *control
	breakers   *breakerSet
	strategies *strategies
	history    *history
	// testBusy makes the self-test/benchmark endpoints exclusive.
	testBusy atomic.Bool
}

// New returns a Runner; register definitions, then Start it.
func New(db Store, pub Publisher, opts Options) *Runner {
	opts.fill()
	if pub == nil {
		pub = events.Nop{}
	}
	ext := opts.Extensions
	if ext == nil {
		ext = extension.New(extension.Options{Logger: opts.Logger})
	}
	log := opts.Logger.With("component", "recovery")
	defs := &definitions{m: map[string]*Definition{}}
	ops := newOpStore(db, opts, log)
	sched := newScheduler(opts.Workers, opts.Clock)
	ev := &eventPublisher{pub: pub, clk: opts.Clock}
	hist := &history{db: db, bucket: opts.MetricsBucket, log: log}
	brk := &breakerSet{opts: opts.Breaker, clk: opts.Clock, log: log, history: hist, events: ev, m: map[string]*breakerEntry{}}
	strat := &strategies{ext: ext, policy: &PolicyStrategy{Policies: opts.Policies, Rand: opts.Rand}, rand: opts.Rand, log: log}
	ex := &executor{opts: opts, clk: opts.Clock, log: log, defs: defs, ops: ops, sched: sched, breakers: brk, strategies: strat, history: hist, events: ev}
	sched.run = ex.runOp
	r := &Runner{
		opts: opts, db: db, log: log,
		defs: defs, ops: ops, sched: sched, exec: ex, breakers: brk, strategies: strat, history: hist,
		ctl: &control{opts: opts, clk: opts.Clock, defs: defs, ops: ops, sched: sched, exec: ex, events: ev},
	}
	strat.register()
	return r
}

// Options returns the effective options.
func (r *Runner) Options() Options { return r.opts }

// Register adds an operation type. It panics on a duplicate or empty definition: that is a
// programming error found at startup.
func (r *Runner) Register(def Definition) { r.defs.add(def) }

// Start loads persisted operations, resumes the unfinished ones from their first incomplete
// step and starts the worker pool. Workers run until Stop.
func (r *Runner) Start(ctx context.Context) error {
	if err := r.db.EnsureBuckets(r.opts.Bucket, r.opts.MetricsBucket); err != nil {
		return fmt.Errorf("recovery: ensure buckets: %w", err)
	}
	if err := r.history.load(); err != nil {
		return err
	}
	loaded, err := r.ops.load()
	if err != nil {
		return err
	}
	runCtx, err := r.sched.begin(ctx)
	if err != nil {
		return err
	}
	resume, later := r.ops.adopt(loaded)
	r.sched.start(runCtx, resume, later)
	r.log.Info("recovery runner started", "operations", len(loaded), "resumed", len(resume)+len(later))
	return nil
}

// Stop stops the workers and waits (until ctx ends) for running steps to return. Steps see
// their context cancelled; their operations are not marked cancelled and resume at the next
// Start.
func (r *Runner) Stop(ctx context.Context) error { return r.sched.stop(ctx) }

// Submit persists a new pending operation of the given function and queues it. It returns
// the operation id.
func (r *Runner) Submit(_ context.Context, function string, meta map[string]any) (string, error) {
	return r.ctl.submit(function, meta)
}

// Get returns an operation by id.
func (r *Runner) Get(id string) (Operation, error) { return r.ops.get(id) }

// List returns the operations matching f, newest first.
func (r *Runner) List(f Filter) ([]Operation, error) { return r.ops.list(f), nil }

// Wait blocks until the operation reaches a terminal state or ctx ends. Called from a step
// of this runner (with the step's ctx), it gives the step's worker slot up while it waits, so
// that the awaited operation can run even when every worker is a waiting parent.
func (r *Runner) Wait(ctx context.Context, id string) (Operation, error) {
	if sl := r.sched.slotOf(ctx); sl != nil && !r.ops.finished(id) {
		sl.yield()
		defer sl.reclaim()
	}
	return r.ops.wait(ctx, id)
}

// Cancel stops an operation: a running step's context is cancelled (so exec.CommandContext
// kills its subprocess) and the state becomes cancelled once the step has returned. Partial
// data (checkpoints, .part files) is kept so Retry resumes it.
func (r *Runner) Cancel(id string) error { return r.ctl.halt(id, errCancel) }

// Pause is Cancel with metadata paused=true; Resume continues the operation.
func (r *Runner) Pause(id string) error { return r.ctl.halt(id, errPause) }

// Resume continues a paused operation from its first unfinished step.
func (r *Runner) Resume(id string) error { return r.ctl.resume(id) }

// Retry runs an operation again from its first unfinished step with a fresh attempt budget
// (maxAttempts > 0 replaces the ceiling). An active operation is refused with Conflict unless
// force, which cancels the running attempt first. A succeeded operation is only re-run with
// force, and then from its first step. The returned retry id names this retry; the operation
// keeps its id.
func (r *Runner) Retry(id string, force bool, maxAttempts int) (string, error) {
	return r.ctl.retry(id, force, maxAttempts)
}

// Breakers returns every breaker's status, sorted by operation type and target.
func (r *Runner) Breakers() []BreakerStatus { return r.breakers.list() }

// Totals returns the recorded history.
func (r *Runner) Totals() Totals { return r.history.totals() }

// StrategyIDs lists the recovery strategies in the order they are asked.
func (r *Runner) StrategyIDs() []string { return r.strategies.ids() }
