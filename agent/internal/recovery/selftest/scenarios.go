package selftest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
)

// Scenario is a self-test that runs real operations through a private recovery.Runner against the
// loopback fault server.
type Scenario struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Category    string `json:"category"`
	// Group is the test_summary bucket: integration_tests, end_to_end_tests, performance_tests.
	Group string `json:"group"`
	// DurationSeconds is the time budget the scenario gets.
	// its fixed part; the configured backoff the scenario expects is added (see budget).
	DurationSeconds float64 `json:"duration_seconds"`
	run             func(ctx context.Context, e *scenarioEnv) (string, error)
	wait            func(recovery.Options) time.Duration
}

// scenarioEnv is what a scenario runs against: the fault server, a loopback client, scratch
// stores on disk and runners with the agent's configured policies and breaker.
type scenarioEnv struct {
	srv     *faultserver.Server
	client  *http.Client
	opts    recovery.Options // the agent's configured options: every scenario runner uses them
	scratch *scratch
}

// funcPublisher forwards events to a function; scenarios watch their runner with it.
type funcPublisher func(topic, event string, data any)

func (f funcPublisher) Publish(topic, event string, data any) { f(topic, event, data) }

// budget is the time a scenario gets under o: its fixed work plus the longest backoff the
// configured policies may draw for the retries it expects (and the breaker's open timeout).
func (s Scenario) budget(o recovery.Options) time.Duration {
	d := time.Duration(s.DurationSeconds * float64(time.Second))
	if s.wait != nil {
		d += s.wait(o)
	}
	return d
}

// retryWait is the sum of the backoff ceilings of n retries of class under o.
func retryWait(class recovery.Class, n int) func(recovery.Options) time.Duration {
	return func(o recovery.Options) time.Duration {
		var d time.Duration
		for a := 1; a <= n; a++ {
			d += recovery.BackoffCeiling(o.Policies[class], a)
		}
		return d
	}
}

// retriesAllowed is how many retries class gets under o for a step with the default ceiling.
func retriesAllowed(o recovery.Options, class recovery.Class) int {
	p := o.Policies[class]
	if !p.Retry {
		return 0
	}
	limit := o.MaxAttempts
	if p.MaxAttempts > 0 && p.MaxAttempts < limit {
		limit = p.MaxAttempts
	}
	return limit - 1
}

// startRunner starts a private runner on db (a fresh scratch store on disk when nil).
func (e *scenarioEnv) startRunner(ctx context.Context, db recovery.Store, pub recovery.Publisher, opts recovery.Options, defs ...recovery.Definition) (*recovery.Runner, error) {
	if db == nil {
		sdb, err := e.scratch.store()
		if err != nil {
			return nil, err
		}
		db = sdb
	}
	opts.Logger = e.opts.Logger
	// Scenarios run in real time, whatever clock the agent's runner was given.
	opts.Clock, opts.Rand = nil, nil
	r := recovery.New(db, pub, opts)
	for _, d := range defs {
		r.Register(d)
	}
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

type resetWriter interface {
	Write([]byte) (int, error)
	Reset()
}

type memWriter struct{ *faultserver.CappedWriter }

// fetchDef is the synthetic download: GET url into w (restarting from zero each attempt) and
// verify sha256; attemptTimeout bounds one request.
func (e *scenarioEnv) fetchDef(name, url string, w resetWriter, sha string, attemptTimeout time.Duration, target string) recovery.Definition {
	d := recovery.Definition{Name: name, Steps: []recovery.Step{{Name: "fetch", Run: func(ctx context.Context, op *recovery.Op) error {
		w.Reset()
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		defer cancel()
		status, hdr, err := faultserver.Fetch(actx, e.client, url, w)
		if err != nil {
			return fmt.Errorf("fetch %s: %w", url, err)
		}
		if status >= 300 {
			return recovery.HTTPError(status, hdr, "fetch "+url)
		}
		if sha != "" {
			if cw, ok := w.(interface{ Bytes() []byte }); ok && faultserver.SHA256(cw.Bytes()) != sha {
				return recovery.WithClass(recovery.ClassIntegrity, errors.New("sha256 mismatch after download"))
			}
		}
		return nil
	}}}}
	if target != "" {
		d.Target = func(map[string]any) string { return target }
	}
	return d
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// runOne submits one operation of def on a fresh runner and waits for it.
func (e *scenarioEnv) runOne(ctx context.Context, def recovery.Definition, pub recovery.Publisher) (recovery.Operation, error) {
	r, err := e.startRunner(ctx, nil, pub, e.opts, def)
	if err != nil {
		return recovery.Operation{}, err
	}
	defer r.Stop(context.Background())
	id, err := r.Submit(ctx, def.Name, nil)
	if err != nil {
		return recovery.Operation{}, err
	}
	return r.Wait(ctx, id)
}

// classesSeen records the error classes a runner reported.
type classesSeen struct {
	mu sync.Mutex
	m  map[recovery.Class]int
	on func(recovery.Class)
}

func (c *classesSeen) Publish(topic, event string, data any) {
	d, _ := data.(map[string]any)
	if event != recovery.EventUpdate || d == nil || d["state"] != recovery.StateRecovering {
		return
	}
	cl, _ := d["error_class"].(recovery.Class)
	c.mu.Lock()
	if c.m == nil {
		c.m = map[recovery.Class]int{}
	}
	c.m[cl]++
	on := c.on
	c.mu.Unlock()
	if on != nil && strings.HasPrefix(topic, "op:") {
		on(cl)
	}
}

func (c *classesSeen) count(cl recovery.Class) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[cl] / 2 // each update goes to the op topic and the all-ops topic
}

func expect(op recovery.Operation, state recovery.State, attempts int) error {
	if op.State != state {
		return fmt.Errorf("final state %s (error %q), want %s", op.State, op.Error, state)
	}
	if attempts > 0 && op.TotalAttempts != attempts {
		return fmt.Errorf("took %d attempts, want %d", op.TotalAttempts, attempts)
	}
	return nil
}

// faultRecovery injects n faults of kind before serving the body; the operation must succeed
// on attempt n+1 with every failure classified wantClass.
func faultRecovery(kind faultserver.Kind, n int, wantClass recovery.Class) func(ctx context.Context, e *scenarioEnv) (string, error) {
	return func(ctx context.Context, e *scenarioEnv) (string, error) {
		if allowed := retriesAllowed(e.opts, wantClass); allowed < n {
			if allowed < 1 {
				return "", fmt.Errorf("the configured [recovery.policy.%s] does not retry: this agent gives up on the first %s fault", wantClass, kind)
			}
			n = allowed // the configured policy allows fewer retries: inject no more faults than it can absorb
		}
		body := payload(32 << 10)
		f := faultserver.Fault{Kind: kind, Delay: 2 * time.Second}
		var plan []faultserver.Fault
		for i := 0; i < n; i++ {
			plan = append(plan, f)
		}
		url := e.srv.Route(body, plan...)
		w := &memWriter{faultserver.NewCappedWriter("scenario", 1<<30)}
		seen := &classesSeen{}
		op, err := e.runOne(ctx, e.fetchDef("scenario_fetch", url, w, faultserver.SHA256(body), 300*time.Millisecond, ""), seen)
		if err != nil {
			return "", err
		}
		if err := expect(op, recovery.StateSuccess, n+1); err != nil {
			return "", err
		}
		if got := seen.count(wantClass); got != n {
			return "", fmt.Errorf("classified %d of %d failures as %s (saw %v)", got, n, wantClass, seen.m)
		}
		return fmt.Sprintf("%d injected %s fault(s) classified %s, recovered on attempt %d, %d bytes verified", n, kind, wantClass, n+1, len(body)), nil
	}
}

func scenarioDiskFull(ctx context.Context, e *scenarioEnv) (string, error) {
	body := payload(64 << 10)
	url := e.srv.Route(body)
	w := &memWriter{faultserver.NewCappedWriter("/models/scenario.part", 16<<10)}
	var freed atomic.Bool
	seen := &classesSeen{on: func(c recovery.Class) {
		// The operator frees space once the agent reports the disk is full.
		if c == recovery.ClassResource && freed.CompareAndSwap(false, true) {
			w.SetLimit(1 << 20)
		}
	}}
	op, err := e.runOne(ctx, e.fetchDef("scenario_disk", url, w, faultserver.SHA256(body), time.Second, ""), seen)
	if err != nil {
		return "", err
	}
	if err := expect(op, recovery.StateSuccess, 2); err != nil {
		return "", err
	}
	if !freed.Load() {
		return "", errors.New("ENOSPC was not reported as a resource error")
	}
	return "write failed with ENOSPC at 16 KiB, classified resource, succeeded after space was freed", nil
}

func scenarioRateLimit(ctx context.Context, e *scenarioEnv) (string, error) {
	body := payload(1024)
	url := e.srv.Route(body, faultserver.Fault{Kind: faultserver.Status, Status: 429, RetryAfter: "1"})
	op, err := e.runOne(ctx, e.fetchDef("scenario_429", url, &memWriter{faultserver.NewCappedWriter("x", 1<<20)}, "", time.Second, ""), nil)
	if err != nil {
		return "", err
	}
	if err := expect(op, recovery.StateSuccess, 2); err != nil {
		return "", err
	}
	ts := e.srv.Times(url)
	if len(ts) != 2 {
		return "", fmt.Errorf("server saw %d requests, want 2", len(ts))
	}
	gap := ts[1].Sub(ts[0])
	if gap < time.Second {
		return "", fmt.Errorf("retried after %s, before the 1s Retry-After", gap.Round(time.Millisecond))
	}
	return fmt.Sprintf("429 with Retry-After: 1 honoured (retried after %s)", gap.Round(time.Millisecond)), nil
}

func scenarioNoRetry(status int, want recovery.Class) func(ctx context.Context, e *scenarioEnv) (string, error) {
	return func(ctx context.Context, e *scenarioEnv) (string, error) {
		url := e.srv.Route(nil)
		e.srv.Repeat(url, &faultserver.Fault{Kind: faultserver.Status, Status: status})
		op, err := e.runOne(ctx, e.fetchDef("scenario_noretry", url, &memWriter{faultserver.NewCappedWriter("x", 1<<20)}, "", time.Second, "loopback"), nil)
		if err != nil {
			return "", err
		}
		if err := expect(op, recovery.StateFailed, 1); err != nil {
			return "", err
		}
		if op.ErrorClass != want || len(op.Suggestions) == 0 {
			return "", fmt.Errorf("class %s with %d suggestions, want %s with suggestions", op.ErrorClass, len(op.Suggestions), want)
		}
		if h := e.srv.Hits(url); h != 1 {
			return "", fmt.Errorf("server hit %d times, want exactly 1 (no retry)", h)
		}
		return fmt.Sprintf("HTTP %d failed once as %s without retrying; suggestion: %q", status, want, op.Suggestions[0]), nil
	}
}

func scenarioBreaker(ctx context.Context, e *scenarioEnv) (string, error) {
	url := e.srv.Route(payload(512))
	e.srv.Repeat(url, &faultserver.Fault{Kind: faultserver.Status, Status: 502})
	var mu sync.Mutex
	var states []string
	halfOpen := make(chan struct{}, 1)
	pub := funcPublisher(func(topic, event string, data any) {
		if event != recovery.EventBreaker {
			return
		}
		st := fmt.Sprint(data.(map[string]any)["state"])
		mu.Lock()
		states = append(states, st)
		mu.Unlock()
		if st == "HALF_OPEN" {
			select {
			case halfOpen <- struct{}{}:
			default:
			}
		}
	})
	def := e.fetchDef("scenario_storm", url, &memWriter{faultserver.NewCappedWriter("x", 1<<20)}, "", time.Second, "loopback-storm")
	def.MaxAttempts = 1
	r, err := e.startRunner(ctx, nil, pub, e.opts, def)
	if err != nil {
		return "", err
	}
	defer r.Stop(context.Background())
	threshold := r.Options().Breaker.Threshold
	for i := 0; i < threshold; i++ {
		id, _ := r.Submit(ctx, def.Name, nil)
		if op, err := r.Wait(ctx, id); err != nil || op.State != recovery.StateExhausted {
			return "", fmt.Errorf("storm op %d: %s %v", i, op.State, err)
		}
	}
	hits := e.srv.Hits(url)
	id, _ := r.Submit(ctx, def.Name, nil)
	op, err := r.Wait(ctx, id)
	if err != nil || op.State != recovery.StateFailed || !strings.Contains(op.Error, "is OPEN") {
		return "", fmt.Errorf("op while breaker open: %s %q %v", op.State, op.Error, err)
	}
	if e.srv.Hits(url) != hits {
		return "", errors.New("an open breaker still let a request through")
	}
	e.srv.Repeat(url, nil)
	select {
	case <-halfOpen:
	case <-ctx.Done():
		return "", errors.New("breaker never announced HALF_OPEN")
	}
	id, _ = r.Submit(ctx, def.Name, nil)
	if op, err := r.Wait(ctx, id); err != nil || op.State != recovery.StateSuccess {
		return "", fmt.Errorf("probe after half-open: %s %v", op.State, err)
	}
	mu.Lock()
	got := strings.Join(states, "->")
	mu.Unlock()
	if got != "OPEN->HALF_OPEN->CLOSED" {
		return "", fmt.Errorf("breaker transitions %s, want OPEN->HALF_OPEN->CLOSED", got)
	}
	return fmt.Sprintf("%d consecutive 502s (the configured threshold) opened the breaker, the next op failed fast without a request, after open_timeout %s it announced HALF_OPEN, a probe closed it", threshold, r.Options().Breaker.OpenTimeout), nil
}

func scenarioCrashResume(ctx context.Context, e *scenarioEnv) (string, error) {
	db, err := e.scratch.store()
	if err != nil {
		return "", err
	}
	var one, two atomic.Int32
	started := make(chan struct{}, 1)
	var block atomic.Bool
	block.Store(true)
	def := recovery.Definition{Name: "scenario_resume", Steps: []recovery.Step{
		{Name: "one", Run: func(context.Context, *recovery.Op) error { one.Add(1); return nil }},
		{Name: "two", Run: func(ctx context.Context, op *recovery.Op) error {
			two.Add(1)
			if block.Load() {
				started <- struct{}{}
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		}},
		{Name: "three", Run: func(context.Context, *recovery.Op) error { return nil }},
	}}
	r1, err := e.startRunner(ctx, db, nil, e.opts, def)
	if err != nil {
		return "", err
	}
	// r1 is abandoned, never stopped while it matters: a killed agent records nothing more.
	// Its goroutines are only reclaimed once the scenario is over.
	defer r1.Stop(context.Background())
	id, _ := r1.Submit(ctx, def.Name, nil)
	select {
	case <-started:
	case <-ctx.Done():
		return "", errors.New("step two never started")
	}
	// The crash: the store's files as they are on disk mid-step, opened by a new agent.
	after, err := e.scratch.crashImage(db)
	if err != nil {
		return "", err
	}
	block.Store(false)
	r2, err := e.startRunner(ctx, after, nil, e.opts, def)
	if err != nil {
		return "", err
	}
	defer r2.Stop(context.Background())
	op, err := r2.Wait(ctx, id)
	if err != nil {
		return "", err
	}
	if op.State != recovery.StateSuccess || one.Load() != 1 || two.Load() != 2 {
		return "", fmt.Errorf("after the crash: %s, step one ran %d times, step two %d", op.State, one.Load(), two.Load())
	}
	salvaged := ""
	if after.Salvaged > 0 {
		salvaged = fmt.Sprintf(" (store salvaged %d bytes of torn tail)", after.Salvaged)
	}
	return "a new runner over the store files as the killed runner left them (no Stop, nothing flushed) resumed at step two; step one was not redone" + salvaged, nil
}

func scenarioCancel(ctx context.Context, e *scenarioEnv) (string, error) {
	body := payload(1 << 20)
	url := e.srv.Route(body, faultserver.Fault{Kind: faultserver.Slow, Delay: 20 * time.Millisecond})
	started := make(chan struct{}, 1)
	w := &notifyWriter{CappedWriter: faultserver.NewCappedWriter("x", 1<<30), first: started}
	def := e.fetchDef("scenario_cancel", url, w, "", time.Minute, "")
	r, err := e.startRunner(ctx, nil, nil, e.opts, def)
	if err != nil {
		return "", err
	}
	defer r.Stop(context.Background())
	id, _ := r.Submit(ctx, def.Name, nil)
	select {
	case <-started:
	case <-ctx.Done():
		return "", errors.New("transfer never started")
	}
	if err := r.Cancel(id); err != nil {
		return "", err
	}
	op, _ := r.Get(id)
	if op.State != recovery.StateCancelled {
		return "", fmt.Errorf("state after cancel %s", op.State)
	}
	deadline := time.Now().Add(2 * time.Second)
	for e.srv.Aborted(url) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if e.srv.Aborted(url) == 0 {
		return "", errors.New("the server kept streaming: the transfer was not really stopped")
	}
	return fmt.Sprintf("cancel stopped the transfer after %d of %d bytes; server saw the client go away", len(w.Bytes()), len(body)), nil
}

type notifyWriter struct {
	*faultserver.CappedWriter
	first chan struct{}
	once  sync.Once
}

func (n *notifyWriter) Write(p []byte) (int, error) {
	n.once.Do(func() { close(n.first) })
	return n.CappedWriter.Write(p)
}

func scenarioThroughput(ctx context.Context, e *scenarioEnv) (string, error) {
	const ops = 40
	body := payload(4096)
	def := recovery.Definition{Name: "scenario_mixed", Steps: []recovery.Step{{Name: "fetch", Run: func(ctx context.Context, op *recovery.Op) error {
		var url string
		if err := op.DecodeMeta("url", &url); err != nil {
			return err
		}
		w := faultserver.NewCappedWriter("x", 1<<20)
		status, hdr, err := faultserver.Fetch(ctx, e.client, url, w)
		if err != nil {
			return err
		}
		if status >= 300 {
			return recovery.HTTPError(status, hdr, "")
		}
		return nil
	}}}}
	r, err := e.startRunner(ctx, nil, nil, e.opts, def)
	if err != nil {
		return "", err
	}
	defer r.Stop(context.Background())
	start := time.Now()
	var ids []string
	for i := 0; i < ops; i++ {
		var plan []faultserver.Fault
		if i%4 == 0 {
			plan = append(plan, faultserver.Fault{Kind: faultserver.Reset})
		}
		id, err := r.Submit(ctx, def.Name, map[string]any{"url": e.srv.Route(body, plan...)})
		if err != nil {
			return "", err
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		op, err := r.Wait(ctx, id)
		if err != nil || op.State != recovery.StateSuccess {
			return "", fmt.Errorf("op %s: %s %v", id, op.State, err)
		}
	}
	el := time.Since(start)
	return fmt.Sprintf("%d operations (25%% with an injected reset) all succeeded in %s (%.0f ops/s)", ops, el.Round(time.Millisecond), float64(ops)/el.Seconds()), nil
}

// Scenarios returns the scenario catalogue.
func Scenarios() []Scenario {
	return []Scenario{
		{ID: "network_timeout", Name: "Network Timeout Recovery", Description: "Two requests stall past the client timeout; the operation retries and succeeds", Category: "network", Group: "integration_tests", DurationSeconds: 5, run: faultRecovery(faultserver.Stall, 2, recovery.ClassTimeout), wait: retryWait(recovery.ClassTimeout, 2)},
		{ID: "connection_failure", Name: "Connection Failure Recovery", Description: "Two connections are reset (RST); the operation retries and succeeds", Category: "network", Group: "integration_tests", DurationSeconds: 5, run: faultRecovery(faultserver.Reset, 2, recovery.ClassNetwork), wait: retryWait(recovery.ClassNetwork, 2)},
		{ID: "truncated_transfer", Name: "Truncated Transfer Recovery", Description: "Two responses end halfway through the body; the operation retries and succeeds", Category: "network", Group: "integration_tests", DurationSeconds: 5, run: faultRecovery(faultserver.Truncate, 2, recovery.ClassNetwork), wait: retryWait(recovery.ClassNetwork, 2)},
		{ID: "corrupted_download", Name: "Integrity Failure Recovery", Description: "A body arrives with a flipped byte; the sha256 check fails (integrity) and the download restarts once", Category: "integrity", Group: "integration_tests", DurationSeconds: 5, run: faultRecovery(faultserver.Corrupt, 1, recovery.ClassIntegrity), wait: retryWait(recovery.ClassIntegrity, 1)},
		{ID: "disk_space_exhausted", Name: "Disk Space Recovery", Description: "The destination fills up (ENOSPC); the error is classified resource and the operation succeeds once space is freed", Category: "resource", Group: "integration_tests", DurationSeconds: 5, run: scenarioDiskFull, wait: retryWait(recovery.ClassResource, 1)},
		{ID: "rate_limited", Name: "Rate Limit Recovery", Description: "The host answers 429 with Retry-After: 1; the retry waits at least that long", Category: "resource", Group: "integration_tests", DurationSeconds: 10, run: scenarioRateLimit},
		{ID: "server_error_storm", Name: "5xx Storm Trips Circuit Breaker", Description: "Consecutive 502s open the breaker; operations fail fast; the breaker half-opens on its timer and closes after a good probe", Category: "circuit_breaker", Group: "integration_tests", DurationSeconds: 10, run: scenarioBreaker, wait: func(o recovery.Options) time.Duration { return o.Breaker.OpenTimeout }},
		{ID: "not_found_no_retry", Name: "Not Found Is Not Retried", Description: "A 404 fails the operation once, with suggestions, without retrying", Category: "classification", Group: "integration_tests", DurationSeconds: 5, run: scenarioNoRetry(http.StatusNotFound, recovery.ClassNotFound)},
		{ID: "auth_rejected", Name: "Auth Rejection Is Not Retried", Description: "A 401 from a model host fails once as auth with token advice", Category: "classification", Group: "integration_tests", DurationSeconds: 5, run: scenarioNoRetry(http.StatusUnauthorized, recovery.ClassAuth)},
		{ID: "crash_resume", Name: "Resume After a Crash", Description: "The runner is abandoned mid-step (no Stop, as a kill leaves it); a new runner over the store files as they were on disk finishes the operation without redoing completed steps", Category: "persistence", Group: "end_to_end_tests", DurationSeconds: 5, run: scenarioCrashResume},
		{ID: "cancel_running", Name: "Cancel Stops Running Work", Description: "Cancelling an operation mid-transfer closes the connection and marks it cancelled", Category: "control", Group: "end_to_end_tests", DurationSeconds: 5, run: scenarioCancel},
		{ID: "mixed_load", Name: "Mixed Load With Faults", Description: "40 concurrent operations, a quarter with an injected reset, all succeed", Category: "performance", Group: "performance_tests", DurationSeconds: 10, run: scenarioThroughput, wait: retryWait(recovery.ClassNetwork, 1)},
	}
}
