package recovery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/events"
	"github.com/comfylauncher/launcher/agent/internal/recovery/clock"
)

// recPub records published events.
type recPub struct {
	mu     sync.Mutex
	events []pubEvent
}

type pubEvent struct {
	topic, name string
	data        map[string]any
}

func (p *recPub) Publish(topic, event string, data any) {
	m, _ := data.(map[string]any)
	p.mu.Lock()
	p.events = append(p.events, pubEvent{topic, event, m})
	p.mu.Unlock()
}

// states returns the recovery_update states published on topic, in order, with consecutive
// duplicates (progress updates) collapsed.
func (p *recPub) states(topic string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, e := range p.events {
		if e.topic != topic || e.name != EventUpdate {
			continue
		}
		s := fmt.Sprintf("%v/%v", e.data["state"], e.data["attempt"])
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

func (p *recPub) named(topic, name string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, e := range p.events {
		if e.topic == topic && e.name == name {
			out = append(out, e.data)
		}
	}
	return out
}

type harness struct {
	t   *testing.T
	db  *memStore
	pub *recPub
	clk *clock.Fake
	r   *Runner
}

func newHarness(t *testing.T, opts Options, defs ...Definition) *harness {
	t.Helper()
	h := &harness{t: t, db: newMemStore(), pub: &recPub{}, clk: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	h.start(opts, defs...)
	return h
}

func (h *harness) start(opts Options, defs ...Definition) {
	h.t.Helper()
	opts.Clock = h.clk
	if opts.Rand == nil {
		opts.Rand = func() float64 { return 0.5 }
	}
	h.r = New(h.db, h.pub, opts)
	for _, d := range defs {
		h.r.Register(d)
	}
	if err := h.r.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	r := h.r
	h.t.Cleanup(func() { _ = r.Stop(context.Background()) })
}

func (h *harness) wait(id string) Operation {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	op, err := h.r.Wait(ctx, id)
	if err != nil {
		h.t.Fatalf("wait %s: %v (state %s)", id, err, op.State)
	}
	return op
}

// advanceWhenWaiting advances the fake clock by d once something is scheduled on it.
func (h *harness) advanceWhenWaiting(d time.Duration) {
	h.t.Helper()
	stop := make(chan struct{})
	timer := time.AfterFunc(20*time.Second, func() { close(stop) })
	defer timer.Stop()
	if !h.clk.WaitPending(1, stop) {
		h.t.Fatal("nothing waited on the clock")
	}
	h.clk.Advance(d)
}

func TestRetryThenSuccess(t *testing.T) {
	var calls atomic.Int32
	def := Definition{Name: "flaky", Steps: []Step{{Name: "fetch", Run: func(ctx context.Context, op *Op) error {
		if calls.Add(1) <= 2 {
			return syscall.ECONNRESET
		}
		return nil
	}}}}
	h := newHarness(t, Options{}, def)
	id, err := h.r.Submit(context.Background(), "flaky", map[string]any{"url": "http://x"})
	if err != nil {
		t.Fatal(err)
	}
	h.advanceWhenWaiting(time.Minute)
	h.advanceWhenWaiting(time.Minute)
	op := h.wait(id)
	if op.State != StateSuccess || op.Attempt != 3 || op.TotalAttempts != 3 || op.Retries != 2 {
		t.Fatalf("op = %s attempt %d total %d retries %d, want success after 3 attempts", op.State, op.Attempt, op.TotalAttempts, op.Retries)
	}
	want := []string{"pending/0", "in_progress/1", "recovering/2", "in_progress/2", "recovering/3", "in_progress/3", "success/3"}
	if got := h.pub.states(events.OpTopic(id)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("events on op topic:\n got %v\nwant %v", got, want)
	}
	if got := h.pub.states(events.TopicAllOps); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("events on all-ops topic: %v", got)
	}
	done := h.pub.named(events.OpTopic(id), EventCompleted)
	if len(done) != 1 || done[0]["success"] != true || done[0]["total_attempts"] != 3 || done[0]["final_state"] != StateSuccess {
		t.Fatalf("recovery_completed = %v", done)
	}
	perf := h.r.Totals().Performance()
	if perf.TotalOperations != 1 || perf.RecoveredAfterRetry != 1 || perf.RetryAttempts != 2 || perf.AverageAttemptsPerRecovery != 3 {
		t.Fatalf("performance = %+v", perf)
	}
	// The recovery time is measured on the fake clock: first failure -> success = 2 minutes.
	if perf.AverageRecoveryTime != 120 {
		t.Fatalf("average recovery time = %v, want 120", perf.AverageRecoveryTime)
	}
}

func TestBackoffDelayIsScheduledNotSlept(t *testing.T) {
	var calls atomic.Int32
	def := Definition{Name: "slowretry", Steps: []Step{{Name: "s", Run: func(ctx context.Context, op *Op) error {
		if calls.Add(1) == 1 {
			return WithRetryAfter(90*time.Second, HTTPError(503, nil, "busy"))
		}
		return nil
	}}}}
	h := newHarness(t, Options{}, def)
	id, _ := h.r.Submit(context.Background(), "slowretry", nil)
	stop := make(chan struct{})
	defer close(stop)
	h.clk.WaitPending(1, stop)
	op, _ := h.r.Get(id)
	if op.State != StateRecovering || op.NextAttemptAt == nil {
		t.Fatalf("op = %+v, want recovering with next_attempt_at", op)
	}
	// Retry-After (90s) beats the resource policy's jittered backoff (2.5s).
	if d := op.NextAttemptAt.Sub(h.clk.Now()); d != 90*time.Second {
		t.Fatalf("next attempt in %v, want 90s", d)
	}
	h.clk.Advance(89 * time.Second)
	if calls.Load() != 1 {
		t.Fatal("retried before Retry-After elapsed")
	}
	h.clk.Advance(time.Second)
	if op := h.wait(id); op.State != StateSuccess {
		t.Fatalf("state = %s", op.State)
	}
}

func TestTerminalStates(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		max       int
		wantState State
		wantClass Class
		wantCalls int32
	}{
		{"not found fails at once", HTTPError(404, nil, "model"), 5, StateFailed, ClassNotFound, 1},
		{"auth fails at once", HTTPError(401, nil, "model"), 5, StateFailed, ClassAuth, 1},
		{"network exhausts the op ceiling", syscall.ECONNREFUSED, 3, StateExhausted, ClassNetwork, 3},
		{"integrity exhausts its class ceiling (2)", WithClass(ClassIntegrity, errors.New("sha256 mismatch")), 5, StateExhausted, ClassIntegrity, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			def := Definition{Name: "op", MaxAttempts: tt.max, Steps: []Step{{Name: "s", Run: func(context.Context, *Op) error {
				calls.Add(1)
				return tt.err
			}}}}
			h := newHarness(t, Options{}, def)
			id, _ := h.r.Submit(context.Background(), "op", nil)
			for i := int32(1); i < tt.wantCalls; i++ {
				h.advanceWhenWaiting(10 * time.Minute)
			}
			op := h.wait(id)
			if op.State != tt.wantState || op.ErrorClass != tt.wantClass || calls.Load() != tt.wantCalls {
				t.Fatalf("got %s/%s after %d calls, want %s/%s after %d", op.State, op.ErrorClass, calls.Load(), tt.wantState, tt.wantClass, tt.wantCalls)
			}
			if len(op.Suggestions) == 0 || op.Error == "" {
				t.Fatalf("terminal op lacks error/suggestions: %+v", op)
			}
		})
	}
}

func TestCancelKillsSubprocess(t *testing.T) {
	pidCh := make(chan int, 1)
	def := Definition{Name: "sleeper", Steps: []Step{{Name: "sleep", Run: func(ctx context.Context, op *Op) error {
		cmd := exec.CommandContext(ctx, "sleep", "60")
		if err := cmd.Start(); err != nil {
			return err
		}
		pidCh <- cmd.Process.Pid
		return cmd.Wait()
	}}}}
	h := newHarness(t, Options{}, def)
	id, _ := h.r.Submit(context.Background(), "sleeper", nil)
	var pid int
	select {
	case pid = <-pidCh:
	case <-time.After(20 * time.Second):
		t.Fatal("step did not start")
	}
	if err := h.r.Cancel(id); err != nil {
		t.Fatal(err)
	}
	op, _ := h.r.Get(id)
	if op.State != StateCancelled {
		t.Fatalf("state after Cancel = %s, want cancelled", op.State)
	}
	// cmd.Wait has returned (the step returned), so the child was killed and reaped.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("sleep %d still exists after cancel (kill 0: %v)", pid, err)
	}
	if err := h.r.Cancel(id); !apierr.Is(err, apierr.Conflict) {
		t.Fatalf("second cancel: %v, want Conflict", err)
	}
	done := h.pub.named(events.OpTopic(id), EventCompleted)
	if len(done) != 1 || done[0]["final_state"] != StateCancelled {
		t.Fatalf("recovery_completed = %v", done)
	}
}

func TestRetryFailedResumesAtFailedStep(t *testing.T) {
	var step1, step2 atomic.Int32
	var healthy atomic.Bool
	def := Definition{Name: "two", Steps: []Step{
		{Name: "one", Run: func(context.Context, *Op) error { step1.Add(1); return nil }},
		{Name: "two", Run: func(context.Context, *Op) error {
			step2.Add(1)
			if !healthy.Load() {
				return HTTPError(404, nil, "not there yet")
			}
			return nil
		}},
	}}
	h := newHarness(t, Options{}, def)
	id, _ := h.r.Submit(context.Background(), "two", nil)
	if op := h.wait(id); op.State != StateFailed {
		t.Fatalf("state = %s, want failed", op.State)
	}
	healthy.Store(true)
	retryID, err := h.r.Retry(id, false, 7)
	if err != nil || !strings.HasPrefix(retryID, "retry_") {
		t.Fatalf("Retry = %q, %v", retryID, err)
	}
	op := h.wait(id)
	if op.State != StateSuccess || op.MaxAttempts != 7 || op.RetryID != retryID {
		t.Fatalf("after retry: %s max %d retry_id %q", op.State, op.MaxAttempts, op.RetryID)
	}
	if step1.Load() != 1 || step2.Load() != 2 {
		t.Fatalf("step runs = %d,%d; want step one once, step two twice", step1.Load(), step2.Load())
	}
	if _, err := h.r.Retry(id, false, 0); !apierr.Is(err, apierr.Conflict) {
		t.Fatalf("retry of a succeeded op without force: %v, want Conflict", err)
	}
	if _, err := h.r.Retry("op_nope", false, 0); !apierr.Is(err, apierr.NotFound) {
		t.Fatalf("retry of unknown op: %v, want NotFound", err)
	}
}

func TestRetryRefusesRunningUnlessForced(t *testing.T) {
	def, started, runs := blockFirstRun("block")
	h := newHarness(t, Options{}, def)
	id, _ := h.r.Submit(context.Background(), "block", nil)
	<-started
	if _, err := h.r.Retry(id, false, 0); !apierr.Is(err, apierr.Conflict) {
		t.Fatalf("Retry(running) = %v, want Conflict", err)
	}
	if _, err := h.r.Retry(id, true, 0); err != nil {
		t.Fatalf("forced retry: %v", err)
	}
	if op := h.wait(id); op.State != StateSuccess || runs.Load() != 2 {
		t.Fatalf("after forced retry: %s, runs %d", op.State, runs.Load())
	}
}

func TestPauseResume(t *testing.T) {
	started := make(chan struct{}, 4)
	var runs atomic.Int32
	def := Definition{Name: "p", Steps: []Step{{Name: "b", Run: func(ctx context.Context, op *Op) error {
		if runs.Add(1) == 1 {
			if err := op.SaveCheckpoint(map[string]int{"offset": 42}); err != nil {
				return err
			}
			started <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}
		var cp struct{ Offset int }
		if found, err := op.LoadCheckpoint(&cp); !found || err != nil || cp.Offset != 42 {
			return fmt.Errorf("checkpoint lost: %v %v %+v", found, err, cp)
		}
		return nil
	}}}}
	h := newHarness(t, Options{}, def)
	id, _ := h.r.Submit(context.Background(), "p", nil)
	<-started
	if err := h.r.Pause(id); err != nil {
		t.Fatal(err)
	}
	op, _ := h.r.Get(id)
	if op.State != StateCancelled || op.Metadata["paused"] != true {
		t.Fatalf("paused op = %s %v", op.State, op.Metadata)
	}
	if err := h.r.Resume(id); err != nil {
		t.Fatal(err)
	}
	if op := h.wait(id); op.State != StateSuccess {
		t.Fatalf("resumed op = %s: %s", op.State, op.Error)
	}
}

func TestStopThenStartResumesWithoutRedoingSteps(t *testing.T) {
	var step1, step2 atomic.Int32
	started := make(chan struct{}, 1)
	blocking := true
	mkDef := func() Definition {
		return Definition{Name: "three", Steps: []Step{
			{Name: "one", Run: func(context.Context, *Op) error { step1.Add(1); return nil }},
			{Name: "two", Run: func(ctx context.Context, op *Op) error {
				step2.Add(1)
				if blocking {
					started <- struct{}{}
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}},
			{Name: "three", Run: func(context.Context, *Op) error { return nil }},
		}}
	}
	h := newHarness(t, Options{}, mkDef())
	id, _ := h.r.Submit(context.Background(), "three", nil)
	<-started
	if err := h.r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	op, _ := h.r.Get(id)
	if op.State != StateInProgress || op.CurrentStep != 1 {
		t.Fatalf("after Stop: %s step %d, want in_progress at step 1 (not cancelled)", op.State, op.CurrentStep)
	}
	blocking = false
	h.start(Options{}, mkDef())
	op = h.wait(id)
	if op.State != StateSuccess || step1.Load() != 1 || step2.Load() != 2 {
		t.Fatalf("resumed: %s, step1 %d step2 %d", op.State, step1.Load(), step2.Load())
	}
}

func TestPersistFailureStopsTheStep(t *testing.T) {
	var ran atomic.Bool
	def := Definition{Name: "x", Steps: []Step{{Name: "s", Run: func(context.Context, *Op) error { ran.Store(true); return nil }}}}
	h := newHarness(t, Options{}, def)
	h.r.Stop(context.Background())
	id, err := h.r.Submit(context.Background(), "x", nil)
	if err == nil {
		t.Fatalf("submit while stopping returned %s", id)
	}
	h.start(Options{}, def)
	h.db.mu.Lock()
	h.db.failPut = syscall.ENOSPC
	h.db.mu.Unlock()
	if _, err := h.r.Submit(context.Background(), "x", nil); !apierr.Is(err, apierr.InsufficientStorage) {
		t.Fatalf("submit with a full disk: %v, want InsufficientStorage", err)
	}
	if ran.Load() {
		t.Fatal("step ran although its state could not be persisted")
	}
}

func TestProgressThrottlesPersistence(t *testing.T) {
	release := make(chan struct{})
	def := Definition{Name: "p", Steps: []Step{{Name: "s", Run: func(ctx context.Context, op *Op) error {
		for i := 0; i < 50; i++ {
			op.Progress(float64(i*2), map[string]any{"current_file": "a.safetensors"})
		}
		<-release
		return nil
	}}}}
	h := newHarness(t, Options{ProgressInterval: 2 * time.Second}, def)
	before := h.db.puts
	id, _ := h.r.Submit(context.Background(), "p", nil)
	deadline := time.Now().Add(20 * time.Second)
	for len(h.pub.named(events.OpTopic(id), EventUpdate)) < 52 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	h.db.mu.Lock()
	puts := h.db.puts - before
	h.db.mu.Unlock()
	close(release)
	h.wait(id)
	// submit + in_progress = 2 puts; 50 progress calls on a frozen clock persist none.
	if puts > 3 {
		t.Fatalf("%d puts for 50 progress updates, want throttled", puts)
	}
	if n := len(h.pub.named(events.OpTopic(id), EventUpdate)); n < 52 {
		t.Fatalf("%d updates published, want every progress call published", n)
	}
	op, _ := h.r.Get(id)
	if op.Metadata["progress"] != float64(98) || op.Metadata["current_file"] != "a.safetensors" {
		t.Fatalf("metadata = %v", op.Metadata)
	}
}

func TestListFilterAndIDs(t *testing.T) {
	def := Definition{Name: "a", Steps: []Step{{Name: "s", Run: func(context.Context, *Op) error { return nil }}}}
	def2 := Definition{Name: "b", Steps: []Step{{Name: "s", Run: func(context.Context, *Op) error { return HTTPError(404, nil, "") }}}}
	h := newHarness(t, Options{}, def, def2)
	var ids []string
	for i := 0; i < 3; i++ {
		id, _ := h.r.Submit(context.Background(), "a", nil)
		ids = append(ids, id)
		h.wait(id)
	}
	idb, _ := h.r.Submit(context.Background(), "b", nil)
	h.wait(idb)
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] || !strings.HasPrefix(ids[i], "op_") {
			t.Fatalf("ids not increasing: %v", ids)
		}
	}
	tests := []struct {
		name string
		f    Filter
		want int
	}{
		{"all", Filter{}, 4},
		{"by function", Filter{Function: "a"}, 3},
		{"by state", Filter{States: []State{StateFailed}}, 1},
		{"two states", Filter{States: []State{StateFailed, StateSuccess}}, 4},
		{"limit", Filter{Limit: 2}, 2},
		{"none", Filter{Function: "zzz"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops, _ := h.r.List(tt.f)
			if len(ops) != tt.want {
				t.Fatalf("List = %d ops, want %d", len(ops), tt.want)
			}
		})
	}
	if _, err := h.r.Submit(context.Background(), "nope", nil); !apierr.Is(err, apierr.Invalid) {
		t.Fatalf("submit unknown function: %v", err)
	}
	if _, err := h.r.Get("op_missing"); !apierr.Is(err, apierr.NotFound) || apierr.Status(apierr.KindOf(err)) != http.StatusNotFound {
		t.Fatalf("Get unknown: %v", err)
	}
}

func TestSameRunnerRestartResumes(t *testing.T) {
	def, started, runs := blockFirstRun("r")
	h := newHarness(t, Options{}, def)
	id, _ := h.r.Submit(context.Background(), "r", nil)
	<-started
	if err := h.r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h.r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if op := h.wait(id); op.State != StateSuccess || runs.Load() != 2 {
		t.Fatalf("after restart: %s, %d runs", op.State, runs.Load())
	}
}

func TestOptionsFromConfig(t *testing.T) {
	c := config.Default()
	c.Paths.DataDir, c.Paths.ModelsDir = t.TempDir(), t.TempDir()
	err := config.Decode([]byte(`
[recovery]
workers = 8
[recovery.breaker]
threshold = 3
open_timeout = "45s"
[recovery.policy.network]
max_attempts = 9
[recovery.policy.auth]
retry = true
base_delay = "2s"
max_delay = "20s"
`), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	o := OptionsFromConfig(c.Recovery)
	net, auth := o.Policies[ClassNetwork], o.Policies[ClassAuth]
	if o.Workers != 8 || o.Breaker.Threshold != 3 || o.Breaker.OpenTimeout != 45*time.Second {
		t.Fatalf("options = %+v", o)
	}
	// Unset fields keep the built-in policy.
	if net.MaxAttempts != 9 || !net.Retry || net.BaseDelay != time.Second || net.MaxDelay != time.Minute {
		t.Fatalf("network policy = %+v", net)
	}
	if !auth.Retry || auth.BaseDelay != 2*time.Second || auth.MaxDelay != 20*time.Second {
		t.Fatalf("auth policy = %+v", auth)
	}
	bad := config.Default()
	bad.Paths.DataDir, bad.Paths.ModelsDir = t.TempDir(), t.TempDir()
	if err := config.Decode([]byte("[recovery.policy.netwrk]\nmax_attempts = 2\n[recovery.breaker]\nthreshold = 0\n"), bad); err != nil {
		t.Fatal(err)
	}
	err = bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "recovery.policy.netwrk: unknown error class") || !strings.Contains(err.Error(), "recovery.breaker.threshold") {
		t.Fatalf("validate = %v", err)
	}
}

func BenchmarkSubmitWait(b *testing.B) {
	r := New(newMemStore(), nil, Options{})
	r.Register(Definition{Name: "noop", Steps: []Step{
		{Name: "a", Run: func(context.Context, *Op) error { return nil }},
		{Name: "b", Run: func(context.Context, *Op) error { return nil }},
	}})
	if err := r.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer r.Stop(context.Background())
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id, err := r.Submit(ctx, "noop", map[string]any{"i": i})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Wait(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPruneFinished(t *testing.T) {
	def := Definition{Name: "a", Steps: []Step{{Name: "s", Run: func(context.Context, *Op) error { return nil }}}}
	h := newHarness(t, Options{KeepFinished: 24 * time.Hour}, def)
	old, _ := h.r.Submit(context.Background(), "a", nil)
	h.wait(old)
	h.clk.Advance(25 * time.Hour)
	fresh, _ := h.r.Submit(context.Background(), "a", nil)
	h.wait(fresh) // finishing it prunes (the last prune was over an hour ago)
	if _, err := h.r.Get(old); !apierr.Is(err, apierr.NotFound) {
		t.Fatalf("old finished op still listed: %v", err)
	}
	if _, ok := h.db.get("ops", old); ok {
		t.Fatal("old finished op still in the store")
	}
	if _, err := h.r.Get(fresh); err != nil {
		t.Fatalf("fresh op pruned: %v", err)
	}
}

func TestMetricsSurviveRestart(t *testing.T) {
	def := Definition{Name: "a", Steps: []Step{{Name: "s", Run: func(context.Context, *Op) error { return HTTPError(404, nil, "") }}}}
	h := newHarness(t, Options{}, def)
	id, _ := h.r.Submit(context.Background(), "a", nil)
	h.wait(id)
	h.r.Stop(context.Background())
	h.start(Options{}, def)
	if p := h.r.Totals().Performance(); p.TotalOperations != 1 || p.FailedOperations != 1 {
		t.Fatalf("performance after restart = %+v", p)
	}
	if op, err := h.r.Get(id); err != nil || op.State != StateFailed {
		t.Fatalf("operation after restart: %+v %v", op, err)
	}
}

// blockFirstRun is a one-step operation whose first run signals started and then blocks until
// its context ends; later runs succeed at once. runs counts the step's executions.
func blockFirstRun(name string) (def Definition, started chan struct{}, runs *atomic.Int32) {
	started = make(chan struct{}, 4)
	runs = new(atomic.Int32)
	def = Definition{Name: name, Steps: []Step{{Name: "s", Run: func(ctx context.Context, op *Op) error {
		if runs.Add(1) == 1 {
			started <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}}}}
	return def, started, runs
}
