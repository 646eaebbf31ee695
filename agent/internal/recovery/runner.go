package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/comfylauncher/launcher/agent/internal/extension"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/events"
	"github.com/comfylauncher/launcher/agent/internal/recovery/clock"
)

// Store is the subset of *store.DB the runner uses.
type Store interface {
	Put(bucket, key string, v any) error
	Delete(bucket, key string) error
	Scan(bucket, prefix string, fn func(key string, raw []byte) error) error
	EnsureBuckets(names ...string) error
}

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

// BreakerOptions configure the per-(operation type, target) circuit breakers.
type BreakerOptions struct {
	// Threshold is the number of consecutive failures that opens a breaker.
	Threshold int
	// OpenTimeout is how long a breaker stays open before probing.
	OpenTimeout time.Duration
	// HalfOpenMax is how many probes HALF_OPEN admits (and successes it needs to close).
	HalfOpenMax int
	// Interval clears a closed breaker's counts; 0 never does.
	Interval time.Duration
	// MaxWait bounds how long an operation waits for an open breaker before failing.
	MaxWait time.Duration
}

// Options configure a Runner. Zero values get the defaults noted.
type Options struct {
	// Disabled runs every step once: no retries, no breakers.
	Disabled bool
	// Workers is how many steps run at once (4).
	Workers int
	// MaxAttempts is the default per-step attempt ceiling (5).
	MaxAttempts int
	// Policies override DefaultPolicies per class.
	Policies map[Class]Policy
	Breaker  BreakerOptions
	// MaxTestDuration caps the self-test and benchmark endpoints (60s).
	MaxTestDuration time.Duration
	// ScratchDir holds the scratch stores of self-tests, scenarios and benchmarks, each in its
	// own directory removed afterwards (the app passes <data_dir>/tmp; empty: os.TempDir()).
	ScratchDir string
	// ProgressInterval throttles persisting Op.Progress (2s).
	ProgressInterval time.Duration
	// MaxRetryAfter caps a server's Retry-After hint (10m).
	MaxRetryAfter time.Duration
	// KeepFinished is how long finished operations are kept (store and memory) before they
	// are pruned; 0 keeps them forever. Pruning runs at Start and at most hourly after.
	KeepFinished time.Duration
	// Bucket holds operations ("ops"); MetricsBucket the performance history ("metrics").
	Bucket        string
	MetricsBucket string
	Clock         clock.Clock
	Logger        *slog.Logger
	// Rand returns uniform draws in [0,1) for jitter.
	Rand func() float64
	// Extensions is the registry the recovery strategies come from; the runner registers its
	// policy table there as builtin.policy. nil means a private registry.
	Extensions *extension.Registry
}

func (o *Options) fill() {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	pol := DefaultPolicies()
	for c, p := range o.Policies {
		pol[c] = p
	}
	o.Policies = pol
	if o.Breaker.Threshold <= 0 {
		o.Breaker.Threshold = 5
	}
	if o.Breaker.OpenTimeout <= 0 {
		o.Breaker.OpenTimeout = 30 * time.Second
	}
	if o.Breaker.HalfOpenMax <= 0 {
		o.Breaker.HalfOpenMax = 1
	}
	if o.Breaker.MaxWait < 0 {
		o.Breaker.MaxWait = 0
	}
	if o.MaxTestDuration <= 0 {
		o.MaxTestDuration = 60 * time.Second
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = 2 * time.Second
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 10 * time.Minute
	}
	if o.Bucket == "" {
		o.Bucket = "ops"
	}
	if o.MetricsBucket == "" {
		o.MetricsBucket = "metrics"
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
}

// Runner executes operations step by step, persisting every state change before acting on
// it, retrying by error class and resuming unfinished operations after a restart.
type Runner struct {
	db   Store
	pub  Publisher
	opts Options
	clk  clock.Clock
	log  *slog.Logger

	defaultStrategy *PolicyStrategy
	ext             *extension.Registry

	mu    sync.Mutex
	defs  map[string]*Definition
	ops   map[string]*opRec
	queue []string
	wake  chan struct{}
	// slots holds one token per running operation, Workers at most (see slot).
	slots     chan struct{}
	breakers  map[string]*breakerEntry
	lastID    int64
	started   bool
	stopping  bool
	runCtx    context.Context
	runCancel context.CancelCauseFunc
	wg        sync.WaitGroup
	metrics   Totals
	// testBusy makes the self-test/benchmark endpoints exclusive.
	testBusy  atomic.Bool
	lastPrune time.Time
}

type opRec struct {
	op      Operation
	pmu     sync.Mutex // serialises persisting this op so an older snapshot never lands last
	running bool
	rerun   bool // woken while running: queue again when the run ends
	cancel  context.CancelCauseFunc
	timer   clock.Timer
	changed chan struct{}
	// stepDone is closed when the running step returns.
	stepDone      chan struct{}
	lastPersist   time.Time
	breakerWaitAt time.Time
	runStart      time.Time
}

// Cancellation causes, so the worker knows why a step's context ended.
var (
	errStopping = errors.New("agent is stopping")
	errCancel   = errors.New("operation cancelled")
	errPause    = errors.New("operation paused")
)

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
	r := &Runner{
		db:              db,
		pub:             pub,
		opts:            opts,
		clk:             opts.Clock,
		log:             opts.Logger.With("component", "recovery"),
		defaultStrategy: &PolicyStrategy{Policies: opts.Policies, Rand: opts.Rand},
		ext:             ext,
		defs:            map[string]*Definition{},
		ops:             map[string]*opRec{},
		wake:            make(chan struct{}, 1),
		slots:           make(chan struct{}, opts.Workers),
		breakers:        map[string]*breakerEntry{},
	}
	r.registerPolicy()
	return r
}

// Options returns the effective options.
func (r *Runner) Options() Options { return r.opts }

// Register adds an operation type. It panics on a duplicate or empty definition: that is a
// programming error found at startup.
func (r *Runner) Register(def Definition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if def.Name == "" || len(def.Steps) == 0 {
		panic("recovery: Register needs a name and at least one step")
	}
	if _, ok := r.defs[def.Name]; ok {
		panic("recovery: duplicate definition " + def.Name)
	}
	d := def
	r.defs[def.Name] = &d
}

// Start loads persisted operations, resumes the unfinished ones from their first incomplete
// step and starts the worker pool. Workers run until Stop.
func (r *Runner) Start(ctx context.Context) error {
	if err := r.db.EnsureBuckets(r.opts.Bucket, r.opts.MetricsBucket); err != nil {
		return fmt.Errorf("recovery: ensure buckets: %w", err)
	}
	if err := r.loadMetrics(); err != nil {
		return err
	}
	var loaded []Operation
	err := r.db.Scan(r.opts.Bucket, "op_", func(key string, raw []byte) error {
		var op Operation
		if err := json.Unmarshal(raw, &op); err != nil {
			r.log.Warn("skipping unreadable operation", "key", key, "err", err)
			return nil
		}
		loaded = append(loaded, op)
		return nil
	})
	if err != nil {
		return fmt.Errorf("recovery: load operations: %w", err)
	}
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("recovery: runner already started")
	}
	r.started = true
	r.stopping = false
	r.runCtx, r.runCancel = context.WithCancelCause(context.WithoutCancel(ctx))
	var resume []string
	var later []*opRec
	for _, op := range loaded {
		if _, ok := r.ops[op.ID]; ok {
			continue // known already: submitted before Start, or a restart of this runner
		}
		if op.Metadata == nil {
			op.Metadata = map[string]any{}
		}
		r.ops[op.ID] = &opRec{op: op, changed: make(chan struct{})}
		if n := idNumber(op.ID); n > r.lastID {
			r.lastID = n
		}
	}
	r.pruneLocked(r.clk.Now())
	for id, rec := range r.ops {
		switch rec.op.State {
		case StatePending, StateInProgress:
			resume = append(resume, id)
		case StateRecovering:
			later = append(later, rec)
		}
	}
	sort.Strings(resume)
	r.queue = resume
	now := r.clk.Now()
	for _, rec := range later {
		d := time.Duration(0)
		if rec.op.NextAttemptAt != nil {
			d = rec.op.NextAttemptAt.Sub(now)
		}
		r.scheduleLocked(rec, d)
	}
	r.wg.Add(1)
	go r.dispatch(r.runCtx)
	r.mu.Unlock()
	r.signal()
	r.log.Info("recovery runner started", "operations", len(loaded), "resumed", len(resume)+len(later))
	return nil
}

// Stop stops the workers and waits (until ctx ends) for running steps to return. Steps see
// their context cancelled; their operations are not marked cancelled and resume at the next
// Start.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	if !r.started || r.stopping {
		r.mu.Unlock()
		return nil
	}
	r.stopping = true
	r.runCancel(errStopping)
	for _, rec := range r.ops {
		if rec.timer != nil {
			rec.timer.Stop()
			rec.timer = nil
		}
	}
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	r.signalAll()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("recovery: stop: %w", ctx.Err())
	}
	r.mu.Lock()
	r.started = false
	r.queue = nil
	r.mu.Unlock()
	return nil
}

// Submit persists a new pending operation of the given function and queues it. It returns
// the operation id.
func (r *Runner) Submit(ctx context.Context, function string, meta map[string]any) (string, error) {
	r.mu.Lock()
	def, ok := r.defs[function]
	if !ok {
		r.mu.Unlock()
		return "", apierr.Newf(apierr.Invalid, "ValidationError", "unknown operation type %q", function).
			Suggest("Use one of the registered operation types: " + r.functionNamesLocked())
	}
	if r.stopping {
		r.mu.Unlock()
		return "", apierr.New(apierr.Unavailable, "ServiceUnavailableError", "the agent is shutting down", "Submit the operation again after the agent restarts")
	}
	now := r.clk.Now()
	id := r.newIDLocked(now)
	normMeta, err := normalize(meta)
	if err != nil {
		r.mu.Unlock()
		return "", apierr.Wrap(apierr.Invalid, "ValidationError", err, "operation metadata is not JSON-encodable", "Pass only JSON values in metadata")
	}
	m, _ := normMeta.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	op := Operation{
		ID: id, FunctionName: function, State: StatePending, MaxAttempts: r.maxAttempts(def),
		CreatedAt: now, UpdatedAt: now, Metadata: m,
	}
	for _, s := range def.Steps {
		op.Steps = append(op.Steps, StepState{Name: s.Name, State: StatePending})
	}
	rec := &opRec{op: op, changed: make(chan struct{})}
	r.ops[id] = rec
	r.mu.Unlock()

	snap, err := r.update(rec, func(*Operation) {})
	if err != nil {
		r.mu.Lock()
		delete(r.ops, id)
		r.mu.Unlock()
		return "", APIError(fmt.Errorf("persist operation: %w", err), "")
	}
	r.publishUpdate(snap, nil)
	r.enqueue(id)
	return id, nil
}

func (r *Runner) maxAttempts(def *Definition) int {
	if r.opts.Disabled {
		return 1
	}
	if def.MaxAttempts > 0 {
		return def.MaxAttempts
	}
	return r.opts.MaxAttempts
}

func (r *Runner) functionNamesLocked() string {
	var names []string
	for n := range r.defs {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "(none registered)"
	}
	b, _ := json.Marshal(names)
	return string(b)
}

// newIDLocked returns op_<16 hex digits of a strictly increasing microsecond clock>: ids sort
// by creation time, as keys and as strings.
func (r *Runner) newIDLocked(now time.Time) string {
	n := now.UnixMicro()
	if n <= r.lastID {
		n = r.lastID + 1
	}
	r.lastID = n
	return fmt.Sprintf("op_%016x", n)
}

func idNumber(id string) int64 {
	var n int64
	if _, err := fmt.Sscanf(id, "op_%x", &n); err != nil {
		return 0
	}
	return n
}

// Get returns an operation by id.
func (r *Runner) Get(id string) (Operation, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.ops[id]
	if !ok {
		return Operation{}, notFound(id)
	}
	return rec.op.clone(), nil
}

func notFound(id string) error {
	return apierr.Newf(apierr.NotFound, "OperationNotFoundError", "operation %q not found", id).
		Suggest("List operations with GET /api/recovery/operations; ids look like op_0006a1b2c3d4e5f6")
}

// List returns the operations matching f, newest first.
func (r *Runner) List(f Filter) ([]Operation, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []Operation{}
	for _, rec := range r.ops {
		if f.match(&rec.op) {
			out = append(out, rec.op.clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// Wait blocks until the operation reaches a terminal state or ctx ends. Called from a step
// of this runner (with the step's ctx), it gives the step's worker slot up while it waits, so
// that the awaited operation can run even when every worker is a waiting parent.
func (r *Runner) Wait(ctx context.Context, id string) (Operation, error) {
	if sl, ok := ctx.Value(slotKey{}).(*slot); ok && sl.r == r && !r.finished(id) {
		sl.yield()
		defer sl.reclaim()
	}
	for {
		r.mu.Lock()
		rec, ok := r.ops[id]
		if !ok {
			r.mu.Unlock()
			return Operation{}, notFound(id)
		}
		if rec.op.State.Terminal() && !rec.running {
			op := rec.op.clone()
			r.mu.Unlock()
			return op, nil
		}
		ch := rec.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return r.mustGet(id), ctx.Err()
		}
	}
}

// finished reports whether id is unknown or has ended.
func (r *Runner) finished(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.ops[id]
	return !ok || (rec.op.State.Terminal() && !rec.running)
}

func (r *Runner) mustGet(id string) Operation {
	op, _ := r.Get(id)
	return op
}

// update applies mutate, stamps UpdatedAt and persists the result. Persisting is serialised
// per operation so snapshots land in the order they were taken.
func (r *Runner) update(rec *opRec, mutate func(op *Operation)) (Operation, error) {
	rec.pmu.Lock()
	defer rec.pmu.Unlock()
	r.mu.Lock()
	mutate(&rec.op)
	rec.op.UpdatedAt = r.clk.Now()
	snap := rec.op.clone()
	r.mu.Unlock()
	err := r.db.Put(r.opts.Bucket, snap.ID, snap)
	if err == nil {
		r.mu.Lock()
		rec.lastPersist = snap.UpdatedAt
		r.mu.Unlock()
	}
	r.notify(rec)
	return snap, err
}

func (r *Runner) notify(rec *opRec) {
	r.mu.Lock()
	close(rec.changed)
	rec.changed = make(chan struct{})
	r.mu.Unlock()
}

// normalize round-trips v through JSON so in-memory metadata equals what a restart reloads.
func normalize(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// pruneLocked forgets finished operations older than KeepFinished, in memory and in the store.
func (r *Runner) pruneLocked(now time.Time) {
	r.lastPrune = now
	if r.opts.KeepFinished <= 0 {
		return
	}
	cutoff := now.Add(-r.opts.KeepFinished)
	for id, rec := range r.ops {
		end := rec.op.UpdatedAt
		if rec.op.FinishedAt != nil {
			end = *rec.op.FinishedAt
		}
		if !rec.op.State.Terminal() || rec.running || end.After(cutoff) {
			continue
		}
		if err := r.db.Delete(r.opts.Bucket, id); err != nil {
			r.log.Warn("prune finished operation", "op", id, "err", err)
			continue
		}
		delete(r.ops, id)
	}
}

// maybePrune prunes at most hourly; it is called after operations finish.
func (r *Runner) maybePrune() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.clk.Now(); now.Sub(r.lastPrune) >= time.Hour {
		r.pruneLocked(now)
	}
}
