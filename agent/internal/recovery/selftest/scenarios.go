package selftest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
)

// Scenario is a self-test that runs real operations through a private recovery.Runner with the
// configured policies: downloads by the agent's downloader from the loopback fault server into
// a scratch directory, checked against the served file's sha256.
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
// stores and directories on disk, and the agent's configured policies, breaker and
// [downloads] host limits.
type scenarioEnv struct {
	srv     *faultserver.FileServer
	client  *http.Client
	opts    recovery.Options // the agent's configured options: every scenario runner uses them
	lim     Downloads
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

// Scenario transfers: every scenario downloads through the agent's downloader into the scratch
// directory and checks the published file against the served file's sha256.
const (
	// scenarioBytes is the size of each scenario's file; faults strike at a quarter of the body
	// each response sends, so a resumed attempt meets the next fault mid-body too.
	scenarioBytes = 256 << 10
	// scenarioSeed generates the files' content.
	scenarioSeed = 61
	// ScenarioStallTimeout is the scenario downloader's stall_timeout: the scenarios prove
	// that a stall is detected, classified and resumed, not how long [downloads]
	// stall_timeout is (60 s by default: two stalls would take the self-test two minutes).
	ScenarioStallTimeout = 250 * time.Millisecond
	// scenarioOperation is the function name of the scenarios' downloads.
	scenarioOperation = "scenario_download"
)

// rig is one scenario's transfer: a fresh downloader (its own host breakers) writing to a
// scratch disk, and a runner with the configured policies that runs it.
type rig struct {
	disk *disk
	tr   transfer
	r    *recovery.Runner
}

// rig starts a scenario's transfer with the [downloads] host limits lim; maxAttempts > 0
// overrides the step's attempt ceiling.
func (e *scenarioEnv) rig(ctx context.Context, pub recovery.Publisher, lim Downloads, maxAttempts int) (*rig, error) {
	dir, err := e.scratch.dir("files")
	if err != nil {
		return nil, err
	}
	g := &rig{disk: newDisk()}
	g.tr = transfer{dir: dir, dl: newDownloader(lim, download.Options{Client: e.client, StallTimeout: ScenarioStallTimeout, OpenFile: g.disk.open}), keep: true}
	def := g.tr.definition(scenarioOperation)
	def.MaxAttempts = maxAttempts
	if g.r, err = e.startRunner(ctx, nil, pub, e.opts, def); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *rig) stop() { _ = g.r.Stop(context.Background()) }

// submit starts the download of f as name; target, when set, is its breaker target.
func (g *rig) submit(ctx context.Context, f *faultserver.File, name, target string) (string, error) {
	meta := map[string]any{"url": f.URL(), "sha256": f.SHA256(), "name": name}
	if target != "" {
		meta["target"] = target
	}
	return g.r.Submit(ctx, scenarioOperation, meta)
}

// download submits the download of f as name and waits for it.
func (g *rig) download(ctx context.Context, f *faultserver.File, name, target string) (recovery.Operation, error) {
	id, err := g.submit(ctx, f, name, target)
	if err != nil {
		return recovery.Operation{}, err
	}
	return g.r.Wait(ctx, id)
}

func (g *rig) dest(name string) string { return filepath.Join(g.tr.dir, name+".safetensors") }

// verify checks that the file published as name has f's sha256.
func (g *rig) verify(f *faultserver.File, name string) error {
	got, err := fileSHA256(g.dest(name))
	if err != nil {
		return fmt.Errorf("the download reported success but the file is not there: %w", err)
	}
	if got != f.SHA256() {
		return fmt.Errorf("published file has sha256 %s, the server's is %s", got, f.SHA256())
	}
	return nil
}

// published says nothing reached the store: a failed download leaves no file at name.
func (g *rig) published(name string) bool {
	_, err := os.Stat(g.dest(name))
	return err == nil
}

// want is what downloadOnce expects of one download.
type want struct {
	pub      recovery.Publisher // watches the runner (nil: nothing does)
	target   string             // the breaker target ("": none)
	state    recovery.State
	attempts int          // 0: any number
	before   func(g *rig) // prepares the rig before the download (e.g. fills its disk)
}

// downloadOnce downloads f as "model" on a fresh rig and checks the operation's end against
// w; the rig is returned running for the scenario's further checks (the caller stops it).
func (e *scenarioEnv) downloadOnce(ctx context.Context, f *faultserver.File, w want) (*rig, recovery.Operation, error) {
	g, err := e.rig(ctx, w.pub, e.lim, 0)
	if err != nil {
		return nil, recovery.Operation{}, err
	}
	if w.before != nil {
		w.before(g)
	}
	op, err := g.download(ctx, f, "model", w.target)
	if err == nil {
		err = expect(op, w.state, w.attempts)
	}
	if err != nil {
		g.stop()
		return nil, op, err
	}
	return g, op, nil
}

// lastStart is where f's last request started (-1: the whole file).
func lastStart(f *faultserver.File) int64 {
	starts := f.RangeStarts()
	if len(starts) == 0 {
		return -1
	}
	return starts[len(starts)-1]
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

// faultRecovery injects n of fault before serving the file; the download must succeed on
// attempt n+1 with every failure classified wantClass, the file verified on disk, and the last
// request resuming the partial (or, with restart, starting again from zero).
func faultRecovery(label string, fault faultserver.FileFault, n int, wantClass recovery.Class, restart bool) func(ctx context.Context, e *scenarioEnv) (string, error) {
	return func(ctx context.Context, e *scenarioEnv) (string, error) {
		if allowed := retriesAllowed(e.opts, wantClass); allowed < n {
			if allowed < 1 {
				return "", fmt.Errorf("the configured [recovery.policy.%s] does not retry: this agent gives up on the first %s", wantClass, label)
			}
			n = allowed // the configured policy allows fewer retries: inject no more faults than it can absorb
		}
		plan := make([]faultserver.FileFault, n)
		for i := range plan {
			plan[i] = fault
		}
		f := e.srv.Add(scenarioBytes, scenarioSeed, plan...)
		seen := &classesSeen{}
		g, _, err := e.downloadOnce(ctx, f, want{pub: seen, state: recovery.StateSuccess, attempts: n + 1})
		if err != nil {
			return "", err
		}
		defer g.stop()
		if got := seen.count(wantClass); got != n {
			return "", fmt.Errorf("classified %d of %d failures as %s (saw %v)", got, n, wantClass, seen.m)
		}
		if err := g.verify(f, "model"); err != nil {
			return "", err
		}
		from := lastStart(f)
		how := fmt.Sprintf("the last attempt resumed the partial at byte %d", from)
		switch {
		case restart && from > 0:
			return "", fmt.Errorf("after a checksum mismatch the download resumed at byte %d instead of starting again", from)
		case restart:
			how = "the bad partial was discarded and the download started again from zero"
		case from <= 0:
			return "", errors.New("the retry downloaded the file again from zero instead of resuming the partial")
		}
		return fmt.Sprintf("%d %s(s) classified %s, recovered on attempt %d: %s; %d bytes published and sha256-verified on disk", n, label, wantClass, n+1, how, f.Size()), nil
	}
}

func scenarioDiskFull(ctx context.Context, e *scenarioEnv) (string, error) {
	f := e.srv.Add(scenarioBytes, scenarioSeed)
	seen := &classesSeen{}
	const full = scenarioBytes / 4
	g, _, err := e.downloadOnce(ctx, f, want{pub: seen, state: recovery.StateSuccess, attempts: 2,
		before: func(g *rig) { g.disk.fill("model", full, 1) }}) // one write fails, then there is room again
	if err != nil {
		return "", err
	}
	defer g.stop()
	if seen.count(recovery.ClassResource) != 1 {
		return "", fmt.Errorf("ENOSPC was not reported as a resource error (saw %v)", seen.m)
	}
	if err := g.verify(f, "model"); err != nil {
		return "", err
	}
	return fmt.Sprintf("a write to the partial failed with ENOSPC at %d KiB, classified resource; once there was room the retry (request %d, from byte %d) published the file, sha256-verified on disk",
		full>>10, f.Requests(), max(0, lastStart(f))), nil
}

func scenarioRateLimit(ctx context.Context, e *scenarioEnv) (string, error) {
	f := e.srv.Add(scenarioBytes, scenarioSeed, faultserver.FileFault{Status: http.StatusTooManyRequests, RetryAfter: "1"})
	g, _, err := e.downloadOnce(ctx, f, want{state: recovery.StateSuccess, attempts: 2})
	if err != nil {
		return "", err
	}
	defer g.stop()
	ts := f.Times()
	if len(ts) != 2 {
		return "", fmt.Errorf("server saw %d requests, want 2", len(ts))
	}
	gap := ts[1].Sub(ts[0])
	if gap < time.Second {
		return "", fmt.Errorf("retried after %s, before the 1s Retry-After", gap.Round(time.Millisecond))
	}
	if err := g.verify(f, "model"); err != nil {
		return "", err
	}
	return fmt.Sprintf("429 with Retry-After: 1 honoured (retried after %s), file sha256-verified", gap.Round(time.Millisecond)), nil
}

func scenarioNoRetry(status int, class recovery.Class) func(ctx context.Context, e *scenarioEnv) (string, error) {
	return func(ctx context.Context, e *scenarioEnv) (string, error) {
		f := e.srv.Add(scenarioBytes, scenarioSeed)
		f.Always(faultserver.FileFault{Status: status})
		g, op, err := e.downloadOnce(ctx, f, want{target: "loopback", state: recovery.StateFailed, attempts: 1})
		if err != nil {
			return "", err
		}
		defer g.stop()
		if op.ErrorClass != class || len(op.Suggestions) == 0 {
			return "", fmt.Errorf("class %s with %d suggestions, want %s with suggestions", op.ErrorClass, len(op.Suggestions), class)
		}
		if h := f.Requests(); h != 1 {
			return "", fmt.Errorf("server hit %d times, want exactly 1 (no retry)", h)
		}
		if g.published("model") {
			return "", errors.New("a failed download left a file in the store")
		}
		return fmt.Sprintf("HTTP %d failed once as %s without retrying, nothing published; suggestion: %q", status, class, op.Suggestions[0]), nil
	}
}

func scenarioBreaker(ctx context.Context, e *scenarioEnv) (string, error) {
	f := e.srv.Add(scenarioBytes, scenarioSeed)
	f.Always(faultserver.FileFault{Status: http.StatusBadGateway})
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
	// The scenario measures [recovery.breaker]: the downloader's own host breaker is kept
	// out of its way (it would otherwise answer the probe while its cooldown runs).
	lim := e.lim
	lim.BreakerThreshold = math.MaxInt32
	g, err := e.rig(ctx, pub, lim, 1)
	if err != nil {
		return "", err
	}
	defer g.stop()
	r := g.r
	threshold := r.Options().Breaker.Threshold
	for i := 0; i < threshold; i++ {
		if op, err := g.download(ctx, f, "model", "loopback-storm"); err != nil || op.State != recovery.StateExhausted {
			return "", fmt.Errorf("storm op %d: %s %v", i, op.State, err)
		}
	}
	hits := f.Requests()
	op, err := g.download(ctx, f, "model", "loopback-storm")
	if err != nil || op.State != recovery.StateFailed || !strings.Contains(op.Error, "is OPEN") {
		return "", fmt.Errorf("op while breaker open: %s %q %v", op.State, op.Error, err)
	}
	if f.Requests() != hits {
		return "", errors.New("an open breaker still let a request through")
	}
	f.Always(faultserver.FileFault{})
	select {
	case <-halfOpen:
	case <-ctx.Done():
		return "", errors.New("breaker never announced HALF_OPEN")
	}
	if op, err := g.download(ctx, f, "model", "loopback-storm"); err != nil || op.State != recovery.StateSuccess {
		return "", fmt.Errorf("probe after half-open: %s %v", op.State, err)
	}
	if err := g.verify(f, "model"); err != nil {
		return "", err
	}
	mu.Lock()
	got := strings.Join(states, "->")
	mu.Unlock()
	if got != "OPEN->HALF_OPEN->CLOSED" {
		return "", fmt.Errorf("breaker transitions %s, want OPEN->HALF_OPEN->CLOSED", got)
	}
	return fmt.Sprintf("%d consecutive 502s (the configured threshold) opened the breaker, the next download failed fast without a request, after open_timeout %s it announced HALF_OPEN, a probe downloaded the file and closed it", threshold, r.Options().Breaker.OpenTimeout), nil
}

func scenarioCancel(ctx context.Context, e *scenarioEnv) (string, error) {
	f := e.srv.Add(scenarioBytes, scenarioSeed, faultserver.FileFault{StallAfter: scenarioBytes / 4})
	g, err := e.rig(ctx, nil, e.lim, 0)
	if err != nil {
		return "", err
	}
	defer g.stop()
	id, err := g.submit(ctx, f, "model", "")
	if err != nil {
		return "", err
	}
	select {
	case <-g.disk.firstWrite("model"):
	case <-ctx.Done():
		return "", errors.New("transfer never started")
	}
	if err := g.r.Cancel(id); err != nil {
		return "", err
	}
	op, _ := g.r.Get(id)
	if op.State != recovery.StateCancelled {
		return "", fmt.Errorf("state after cancel %s", op.State)
	}
	select {
	case <-f.AbortedC():
	case <-ctx.Done():
		return "", errors.New("the server kept the response open: the transfer was not really stopped")
	}
	if g.published("model") {
		return "", errors.New("a cancelled download published a file")
	}
	return fmt.Sprintf("cancel stopped the transfer after %d of %d bytes; the server saw the client go away, nothing was published", f.Served(), f.Size()), nil
}

// mixedLoadOps is how many downloads mixed_load runs at once; every mixedLoadResetEvery-th
// meets a connection reset mid-body.
const (
	mixedLoadOps        = 40
	mixedLoadResetEvery = 4
)

func scenarioThroughput(ctx context.Context, e *scenarioEnv) (string, error) {
	g, err := e.rig(ctx, nil, e.lim, 0)
	if err != nil {
		return "", err
	}
	defer g.stop()
	start := time.Now()
	files := make([]*faultserver.File, mixedLoadOps)
	ids := make([]string, mixedLoadOps)
	for i := range files {
		var plan []faultserver.FileFault
		if i%mixedLoadResetEvery == 0 {
			plan = append(plan, faultserver.FileFault{ResetAfter: scenarioBytes / 4})
		}
		files[i] = e.srv.Add(scenarioBytes, scenarioSeed, plan...)
		if ids[i], err = g.submit(ctx, files[i], fmt.Sprintf("m%d", i), ""); err != nil {
			return "", err
		}
	}
	for i, id := range ids {
		op, err := g.r.Wait(ctx, id)
		if err != nil || op.State != recovery.StateSuccess {
			return "", fmt.Errorf("op %s: %s %v", id, op.State, err)
		}
		if err := g.verify(files[i], fmt.Sprintf("m%d", i)); err != nil {
			return "", err
		}
	}
	el := time.Since(start)
	return fmt.Sprintf("%d concurrent downloads of %d KiB (one in %d with a connection reset mid-body) all succeeded and were sha256-verified in %s (%.0f downloads/s)",
		mixedLoadOps, scenarioBytes>>10, mixedLoadResetEvery, el.Round(time.Millisecond), float64(mixedLoadOps)/el.Seconds()), nil
}

// Scenarios returns the scenario catalogue.
func Scenarios() []Scenario {
	return []Scenario{
		{ID: "network_timeout", Name: "Network Timeout Recovery", Description: "Two responses stall mid-body past the downloader's stall timeout; each retry resumes the partial and the verified file is published", Category: "network", Group: "integration_tests", DurationSeconds: 5, run: faultRecovery("stall", faultserver.FileFault{StallAfter: scenarioBytes / 4}, 2, recovery.ClassTimeout, false), wait: retryWait(recovery.ClassTimeout, 2)},
		{ID: "connection_failure", Name: "Connection Failure Recovery", Description: "Two connections are reset (RST) mid-body; each retry resumes the partial and the verified file is published", Category: "network", Group: "integration_tests", DurationSeconds: 5, run: faultRecovery("connection reset", faultserver.FileFault{ResetAfter: scenarioBytes / 4}, 2, recovery.ClassNetwork, false), wait: retryWait(recovery.ClassNetwork, 2)},
		{ID: "truncated_transfer", Name: "Truncated Transfer Recovery", Description: "Two responses end before their Content-Length; each retry resumes the partial and the verified file is published", Category: "network", Group: "integration_tests", DurationSeconds: 5, run: faultRecovery("truncated body", faultserver.FileFault{TruncateAfter: scenarioBytes / 4}, 2, recovery.ClassNetwork, false), wait: retryWait(recovery.ClassNetwork, 2)},
		{ID: "corrupted_download", Name: "Integrity Failure Recovery", Description: "A body arrives with a flipped byte; the sha256 check fails (integrity), the partial is discarded and the download starts again from zero", Category: "integrity", Group: "integration_tests", DurationSeconds: 5, run: faultRecovery("corrupted body", faultserver.FileFault{Corrupt: scenarioBytes / 2}, 1, recovery.ClassIntegrity, true), wait: retryWait(recovery.ClassIntegrity, 1)},
		{ID: "disk_space_exhausted", Name: "Disk Space Recovery", Description: "A write to the partial fails with ENOSPC; the error is classified resource and, once there is room, the retry publishes the verified file", Category: "resource", Group: "integration_tests", DurationSeconds: 5, run: scenarioDiskFull, wait: retryWait(recovery.ClassResource, 1)},
		{ID: "rate_limited", Name: "Rate Limit Recovery", Description: "The host answers 429 with Retry-After: 1; the retry waits at least that long", Category: "network", Group: "integration_tests", DurationSeconds: 10, run: scenarioRateLimit},
		{ID: "server_error_storm", Name: "5xx Storm Trips Circuit Breaker", Description: "Consecutive 502s open the breaker; operations fail fast; the breaker half-opens on its timer and closes after a good probe", Category: "circuit_breaker", Group: "integration_tests", DurationSeconds: 10, run: scenarioBreaker, wait: func(o recovery.Options) time.Duration { return o.Breaker.OpenTimeout }},
		{ID: "not_found_no_retry", Name: "Not Found Is Not Retried", Description: "A 404 fails the operation once, with suggestions, without retrying", Category: "classification", Group: "integration_tests", DurationSeconds: 5, run: scenarioNoRetry(http.StatusNotFound, recovery.ClassNotFound)},
		{ID: "auth_rejected", Name: "Auth Rejection Is Not Retried", Description: "A 401 from a model host fails once as auth with token advice", Category: "classification", Group: "integration_tests", DurationSeconds: 5, run: scenarioNoRetry(http.StatusUnauthorized, recovery.ClassAuth)},
		{ID: "crash_resume", Name: "Resume After a Crash", Description: "The runner is abandoned mid-step (no Stop, as a kill leaves it); a new runner over the store files as they were on disk finishes the operation without redoing completed steps", Category: "persistence", Group: "end_to_end_tests", DurationSeconds: 5, run: scenarioCrashResume},
		{ID: "cancel_running", Name: "Cancel Stops Running Work", Description: "Cancelling a download mid-transfer closes the connection, marks it cancelled and publishes nothing", Category: "control", Group: "end_to_end_tests", DurationSeconds: 5, run: scenarioCancel},
		{ID: "mixed_load", Name: "Mixed Load With Faults", Description: "40 concurrent downloads, a quarter with a connection reset mid-body, all succeed and verify", Category: "performance", Group: "performance_tests", DurationSeconds: 10, run: scenarioThroughput, wait: retryWait(recovery.ClassNetwork, 1)},
	}
}
