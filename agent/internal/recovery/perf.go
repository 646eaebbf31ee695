package recovery

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
)

// Scratch buckets of the measured runs: they go through the real store (so persistence cost is
// measured) and are emptied afterwards.
const (
	benchBucket        = "recovery_bench"
	benchMetricsBucket = "recovery_bench_metrics"
)

// ValidateRequest is the body of POST /api/recovery/performance/validate.
type ValidateRequest struct {
	TestDuration             float64 `json:"test_duration"`
	ConcurrentOperations     int     `json:"concurrent_operations"`
	IncludeNetworkSimulation bool    `json:"include_network_simulation"`
	// OperationLatencyMS is the simulated remote host's response time per operation (default
	// 20ms, like a nearby mirror); 0 measures the bare per-operation cost of the layer.
	OperationLatencyMS *float64 `json:"operation_latency_ms"`
}

// ValidateResult is validation_results.
type ValidateResult struct {
	BaselineOpsPerSecond float64  `json:"baseline_operations_per_second"`
	RecoveryOpsPerSecond float64  `json:"recovery_operations_per_second"`
	ImpactPercent        float64  `json:"performance_impact_percent"`
	MemoryOverheadMB     float64  `json:"memory_overhead_mb"`
	CPUOverheadPercent   float64  `json:"cpu_overhead_percent"`
	ValidationPassed     bool     `json:"validation_passed"`
	Recommendations      []string `json:"recommendations"`
	// Measured detail.
	BaselineOperations   int64   `json:"baseline_operations"`
	BaselineFailures     int64   `json:"baseline_failures"`
	RecoveryOperations   int64   `json:"recovery_operations"`
	RecoveryFailures     int64   `json:"recovery_failures"`
	BaselineCPUPercent   float64 `json:"baseline_cpu_percent"`
	RecoveryCPUPercent   float64 `json:"recovery_cpu_percent"`
	PhaseSeconds         float64 `json:"phase_seconds"`
	OperationLatencyMS   float64 `json:"operation_latency_ms"`
	BaselineCPUPerOpMS   float64 `json:"baseline_cpu_ms_per_operation"`
	RecoveryCPUPerOpMS   float64 `json:"recovery_cpu_ms_per_operation"`
	ConcurrentOperations int     `json:"concurrent_operations"`
	NetworkSimulation    bool    `json:"network_simulation"`
}

// benchEnv is a fault server plus a runner on the store's scratch buckets.
type benchEnv struct {
	srv    *faultserver.Server
	client *http.Client
	r      *Runner
}

func (r *Runner) newBenchEnv(ctx context.Context, defs func(srv *faultserver.Server, client *http.Client) []Definition) (*benchEnv, error) {
	srv, err := faultserver.Start()
	if err != nil {
		return nil, APIError(err, "start the loopback fault server")
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	opts := scenarioOptions()
	opts.Bucket, opts.MetricsBucket = benchBucket, benchMetricsBucket
	opts.Logger = r.opts.Logger
	opts.Workers = r.opts.Workers
	br := New(r.db, nil, opts)
	for _, d := range defs(srv, client) {
		br.Register(d)
	}
	if err := br.Start(ctx); err != nil {
		srv.Close()
		return nil, APIError(err, "start the benchmark runner")
	}
	return &benchEnv{srv: srv, client: client, r: br}, nil
}

// close stops the runner and empties the scratch buckets.
func (b *benchEnv) close() {
	_ = b.r.Stop(context.Background())
	b.srv.Close()
	for _, bucket := range []string{benchBucket, benchMetricsBucket} {
		var keys []string
		_ = b.r.db.Scan(bucket, "", func(k string, _ []byte) error { keys = append(keys, k); return nil })
		for _, k := range keys {
			_ = b.r.db.Delete(bucket, k)
		}
	}
}

// fetchOnce is the synthetic operation: one GET of a small body from the fault server.
func fetchOnce(ctx context.Context, client *http.Client, url string) error {
	status, hdr, err := faultserver.Fetch(ctx, client, url, io.Discard)
	if err != nil {
		return err
	}
	if status >= 300 {
		return HTTPError(status, hdr, "")
	}
	return nil
}

// testSlot makes the heavy test endpoints exclusive so one client cannot stack them.
func (r *Runner) testSlot() (func(), error) {
	if !r.testBusy.CompareAndSwap(false, true) {
		return nil, apierr.New(apierr.Conflict, "TestAlreadyRunningError", "another recovery test or benchmark is running",
			"Wait for it to finish; each run is capped by [recovery] max_test_duration")
	}
	return func() { r.testBusy.Store(false) }, nil
}

// Validate measures the same synthetic operations with and without the recovery layer, each
// for half of the duration with the same concurrency, and derives the overhead.
func (r *Runner) Validate(ctx context.Context, req ValidateRequest) (ValidateResult, error) {
	maxS := r.opts.MaxTestDuration.Seconds()
	if req.TestDuration == 0 {
		req.TestDuration = math.Min(10, maxS)
	}
	if req.TestDuration < 0.2 || req.TestDuration > maxS || math.IsNaN(req.TestDuration) {
		return ValidateResult{}, apierr.Newf(apierr.Invalid, "ValidationError", "test_duration %g is out of range", req.TestDuration).
			Suggest(fmt.Sprintf("Send test_duration in seconds between 0.2 and %g ([recovery] max_test_duration)", maxS))
	}
	if req.ConcurrentOperations == 0 {
		req.ConcurrentOperations = r.opts.Workers
	}
	if req.ConcurrentOperations < 1 || req.ConcurrentOperations > 64 {
		return ValidateResult{}, apierr.Newf(apierr.Invalid, "ValidationError", "concurrent_operations %d is out of range", req.ConcurrentOperations).
			Suggest("Send concurrent_operations between 1 and 64")
	}
	latency := 20.0
	if req.OperationLatencyMS != nil {
		latency = *req.OperationLatencyMS
	}
	if latency < 0 || latency > 10000 || math.IsNaN(latency) {
		return ValidateResult{}, apierr.Newf(apierr.Invalid, "ValidationError", "operation_latency_ms %g is out of range", latency).
			Suggest("Send operation_latency_ms between 0 and 10000, or omit it (20)")
	}
	release, err := r.testSlot()
	if err != nil {
		return ValidateResult{}, err
	}
	defer release()

	var url string
	env, err := r.newBenchEnv(ctx, func(srv *faultserver.Server, client *http.Client) []Definition {
		url = srv.Route(payload(4096))
		return []Definition{{Name: "validate_fetch", Steps: []Step{{Name: "fetch", Run: func(ctx context.Context, _ *Op) error {
			return fetchOnce(ctx, client, url)
		}}}}}
	})
	if err != nil {
		return ValidateResult{}, err
	}
	defer env.close()
	env.srv.Repeat(url, &faultserver.Fault{Kind: faultserver.OK, Delay: time.Duration(latency * float64(time.Millisecond))})
	if req.IncludeNetworkSimulation {
		// One request in ten gets a 502: the baseline loses it, the recovery layer retries it.
		// (Not a connection reset: Go's transport silently retries those on reused connections.)
		env.srv.Every(url, 10, faultserver.Fault{Kind: faultserver.Status, Status: http.StatusBadGateway})
	}
	fetch := func(ctx context.Context) error { return fetchOnce(ctx, env.client, url) }

	phase := time.Duration(req.TestDuration / 2 * float64(time.Second))
	res := ValidateResult{PhaseSeconds: phase.Seconds(), ConcurrentOperations: req.ConcurrentOperations, NetworkSimulation: req.IncludeNetworkSimulation, OperationLatencyMS: latency}

	base := measurePhase(ctx, phase, req.ConcurrentOperations, func(ctx context.Context) error { return fetch(ctx) })
	rec := measurePhase(ctx, phase, req.ConcurrentOperations, func(ctx context.Context) error {
		id, err := env.r.Submit(ctx, "validate_fetch", nil)
		if err != nil {
			return err
		}
		op, err := env.r.Wait(ctx, id)
		if err != nil {
			return err
		}
		if op.State != StateSuccess {
			return fmt.Errorf("%s: %s", op.State, op.Error)
		}
		return nil
	})
	if ctx.Err() != nil {
		return ValidateResult{}, apierr.New(apierr.Unavailable, "ServiceUnavailableError", "validation was interrupted", "Keep the request open for test_duration seconds")
	}
	res.BaselineOperations, res.BaselineFailures = base.ok, base.failed
	res.RecoveryOperations, res.RecoveryFailures = rec.ok, rec.failed
	res.BaselineOpsPerSecond = round2(base.opsPerSecond())
	res.RecoveryOpsPerSecond = round2(rec.opsPerSecond())
	if base.opsPerSecond() > 0 {
		res.ImpactPercent = round2(100 * (base.opsPerSecond() - rec.opsPerSecond()) / base.opsPerSecond())
	}
	res.MemoryOverheadMB = round2((rec.avgHeap - base.avgHeap) / (1 << 20))
	res.BaselineCPUPercent = round2(base.cpu)
	res.RecoveryCPUPercent = round2(rec.cpu)
	res.CPUOverheadPercent = round2(rec.cpu - base.cpu)
	res.BaselineCPUPerOpMS = round2(base.cpuPerOpMS())
	res.RecoveryCPUPerOpMS = round2(rec.cpuPerOpMS())
	res.ValidationPassed, res.Recommendations = r.recommend(res, base, rec)
	return res, nil
}

type phaseResult struct {
	ok, failed int64
	seconds    float64
	cpu        float64 // percent of one core
	avgHeap    float64
}

// cpuPerOpMS is the CPU milliseconds spent per finished operation.
func (p phaseResult) cpuPerOpMS() float64 {
	if n := p.ok + p.failed; n > 0 {
		return p.cpu / 100 * p.seconds * 1000 / float64(n)
	}
	return 0
}

func (p phaseResult) opsPerSecond() float64 {
	if p.seconds <= 0 {
		return 0
	}
	return float64(p.ok) / p.seconds
}

// measurePhase runs op in n goroutines for d, sampling CPU and heap.
func measurePhase(ctx context.Context, d time.Duration, n int, op func(context.Context) error) phaseResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var ok, failed atomic.Int64
	var heapSum float64
	var heapN int
	stopSample := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				heapSum += float64(sampleProc().heap)
				heapN++
			case <-stopSample:
				return
			}
		}
	}()
	start := sampleProc()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := op(ctx); err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	end := sampleProc()
	close(stopSample)
	<-sampled
	res := phaseResult{ok: ok.Load(), failed: failed.Load(), seconds: end.at.Sub(start.at).Seconds(), cpu: cpuPercent(start, end)}
	if heapN > 0 {
		res.avgHeap = heapSum / float64(heapN)
	} else {
		res.avgHeap = float64(end.heap)
	}
	return res
}

// recommend derives advice from the measured numbers; the run passes when the throughput cost
// stays within 25% and the recovery layer fails no more operations than the baseline.
func (r *Runner) recommend(res ValidateResult, base, rec phaseResult) (bool, []string) {
	var out []string
	passed := res.ImpactPercent <= 25 && res.RecoveryFailures <= res.BaselineFailures
	switch {
	case res.ImpactPercent <= 10:
		out = append(out, fmt.Sprintf("Performance impact (%.1f%%) is within acceptable limits (10%%)", res.ImpactPercent))
	case res.ImpactPercent <= 25:
		out = append(out, fmt.Sprintf("Performance impact is %.1f%%: every state change is an fsync'd store write, which dominates for operations this short; real downloads and installs amortise it", res.ImpactPercent))
	default:
		out = append(out, fmt.Sprintf("Performance impact is high (%.1f%%) for %gms operations: each operation persists about 4 fsync'd state changes, so very short operations (or a slow data disk) pay relatively more; keep recovery for long jobs", res.ImpactPercent, res.OperationLatencyMS))
	}
	if math.Abs(res.MemoryOverheadMB) < 10 {
		out = append(out, fmt.Sprintf("Memory overhead is minimal (%.1f MB)", res.MemoryOverheadMB))
	} else {
		out = append(out, fmt.Sprintf("Memory overhead is %.1f MB: finished operations stay in memory; consider pruning old operations", res.MemoryOverheadMB))
	}
	if res.CPUOverheadPercent > 50 {
		out = append(out, fmt.Sprintf("The recovery layer used %.0f%% more of a core: lower [recovery] workers on small nodes", res.CPUOverheadPercent))
	}
	if res.NetworkSimulation && base.ok+base.failed > 0 {
		bf := 100 * float64(base.failed) / float64(base.ok+base.failed)
		rf := 0.0
		if rec.ok+rec.failed > 0 {
			rf = 100 * float64(rec.failed) / float64(rec.ok+rec.failed)
		}
		out = append(out, fmt.Sprintf("With one request in ten failing (HTTP 502), %.1f%% of operations failed without recovery and %.1f%% with it", bf, rf))
	}
	if res.RecoveryFailures > res.BaselineFailures {
		out = append(out, "The recovery layer failed more operations than the baseline: check the agent log for persistence errors")
	}
	if res.ConcurrentOperations > r.opts.Workers {
		out = append(out, fmt.Sprintf("Only %d workers run steps at once; raise [recovery] workers if you need more than %d concurrent operations", r.opts.Workers, r.opts.Workers))
	} else if res.ConcurrentOperations < r.opts.Workers {
		out = append(out, fmt.Sprintf("Consider increasing concurrent_operations (up to %d workers) for better throughput", r.opts.Workers))
	}
	return passed, out
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func (r *Runner) handleValidate(w http.ResponseWriter, req *http.Request, _ httprouter.Params) {
	var body ValidateRequest
	if req.ContentLength != 0 {
		if err := api.DecodeJSON(w, req, &body, 4096); err != nil && !isEmptyBody(err) {
			api.WriteError(w, req, err)
			return
		}
	}
	res, err := r.Validate(req.Context(), body)
	if err != nil {
		api.WriteError(w, req, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "validation_results": res})
}

// BenchmarkRequest is the body of POST /api/recovery/performance/benchmark.
type BenchmarkRequest struct {
	Scenarios  []string `json:"scenarios"`
	Iterations int      `json:"iterations"`
	Duration   float64  `json:"duration"`
}

// benchScenarios maps benchmark scenario names to the fault each iteration gets before it
// succeeds.
var benchScenarios = map[string]faultserver.Fault{
	"network_failures":    {Kind: faultserver.Reset},
	"timeout_failures":    {Kind: faultserver.Stall, Delay: 5 * time.Second},
	"resource_failures":   {Kind: faultserver.Status, Status: http.StatusServiceUnavailable},
	"server_errors":       {Kind: faultserver.Status, Status: http.StatusBadGateway},
	"integrity_failures":  {Kind: faultserver.Corrupt},
	"truncated_transfers": {Kind: faultserver.Truncate},
}

// ScoreFormula documents the benchmark score.
const ScoreFormula = "score = 100 * success_rate * 1s / (1s + average_recovery_time); overall_score = mean of scenario scores"

// BenchScenarioResult is one scenario of benchmark_results.
type BenchScenarioResult struct {
	SuccessRate         float64 `json:"success_rate"`
	AverageRecoveryTime float64 `json:"average_recovery_time"`
	Score               float64 `json:"score"`
	Iterations          int     `json:"iterations"`
	Succeeded           int     `json:"succeeded"`
	InjectedFaults      int     `json:"injected_faults"`
	AverageAttempts     float64 `json:"average_attempts"`
}

// Benchmark runs iterations of each named scenario (an operation that meets one or two
// injected faults, then succeeds) through a runner on the real store and reports the
// measured recovery and the agent's CPU, RSS and disk I/O.
func (r *Runner) Benchmark(ctx context.Context, req BenchmarkRequest) (map[string]any, error) {
	maxS := r.opts.MaxTestDuration.Seconds()
	if len(req.Scenarios) == 0 {
		req.Scenarios = []string{"network_failures", "timeout_failures", "resource_failures"}
	}
	var names []string
	for n := range benchScenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, s := range req.Scenarios {
		if _, ok := benchScenarios[s]; !ok {
			return nil, apierr.Newf(apierr.Invalid, "ValidationError", "unknown benchmark scenario %q", s).Suggest(fmt.Sprintf("Use any of %v", names))
		}
	}
	if req.Iterations == 0 {
		req.Iterations = 20
	}
	if req.Iterations < 1 || req.Iterations > 1000 {
		return nil, apierr.Newf(apierr.Invalid, "ValidationError", "iterations %d is out of range", req.Iterations).Suggest("Send iterations between 1 and 1000")
	}
	if req.Duration == 0 {
		req.Duration = maxS
	}
	if req.Duration < 0.2 || math.IsNaN(req.Duration) {
		return nil, apierr.Newf(apierr.Invalid, "ValidationError", "duration %g is out of range", req.Duration).Suggest(fmt.Sprintf("Send duration in seconds, at most %g", maxS))
	}
	capped := req.Duration > maxS
	req.Duration = math.Min(req.Duration, maxS)
	release, err := r.testSlot()
	if err != nil {
		return nil, err
	}
	defer release()

	const function = "benchmark_fetch"
	env, err := r.newBenchEnv(ctx, func(_ *faultserver.Server, client *http.Client) []Definition {
		return []Definition{{Name: function, Steps: []Step{{Name: "fetch", Run: func(ctx context.Context, op *Op) error {
			var url, want string
			if err := op.DecodeMeta("url", &url); err != nil {
				return err
			}
			_ = op.DecodeMeta("sha256", &want)
			actx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			w := faultserver.NewCappedWriter("bench", 1<<20)
			status, hdr, err := faultserver.Fetch(actx, client, url, w)
			if err != nil {
				return err
			}
			if status >= 300 {
				return HTTPError(status, hdr, "")
			}
			if want != "" && faultserver.SHA256(w.Bytes()) != want {
				return WithClass(ClassIntegrity, fmt.Errorf("sha256 mismatch"))
			}
			return nil
		}}}}}
	})
	if err != nil {
		return nil, err
	}
	defer env.close()

	ctx, cancel := context.WithTimeout(ctx, time.Duration(req.Duration*float64(time.Second)))
	defer cancel()
	body := payload(16 << 10)
	sum := faultserver.SHA256(body)
	start := sampleProc()
	results := map[string]BenchScenarioResult{}
	var total float64
	for _, name := range req.Scenarios {
		fault := benchScenarios[name]
		res := BenchScenarioResult{}
		var recSum float64
		var recN, attempts int
		var ids []string
		for i := 0; i < req.Iterations && ctx.Err() == nil; i++ {
			n := 1 + i%2
			if fault.Kind == faultserver.Corrupt {
				n = 1 // integrity gets one fresh attempt by policy
			}
			plan := make([]faultserver.Fault, n)
			for j := range plan {
				plan[j] = fault
			}
			res.InjectedFaults += n
			id, err := env.r.Submit(ctx, function, map[string]any{"url": env.srv.Route(body, plan...), "sha256": sum})
			if err != nil {
				break
			}
			ids = append(ids, id)
			if len(ids) >= r.opts.Workers*2 {
				recSum, recN, attempts = collect(ctx, env.r, ids, &res, recSum, recN, attempts)
				ids = ids[:0]
			}
		}
		recSum, recN, attempts = collect(ctx, env.r, ids, &res, recSum, recN, attempts)
		if res.Iterations > 0 {
			res.SuccessRate = round2(float64(res.Succeeded) / float64(res.Iterations))
			res.AverageAttempts = round2(float64(attempts) / float64(res.Iterations))
		}
		if recN > 0 {
			res.AverageRecoveryTime = math.Round(recSum/float64(recN)*1e4) / 1e4
		}
		res.Score = round2(100 * res.SuccessRate / (1 + res.AverageRecoveryTime))
		total += res.Score
		results[name] = res
	}
	end := sampleProc()
	wall := end.at.Sub(start.at).Seconds()
	sys := map[string]any{
		"cpu_usage_percent": round2(cpuPercent(start, end)),
		"memory_usage_mb":   round2(float64(end.rssBytes) / (1 << 20)),
		"duration_seconds":  round2(wall),
	}
	if end.ioOK && wall > 0 {
		sys["disk_io_mb_s"] = round2(float64(end.ioBytes-start.ioBytes) / (1 << 20) / wall)
	} else {
		sys["disk_io_mb_s"] = nil
		sys["disk_io_note"] = "/proc/self/io is not readable here"
	}
	out := map[string]any{
		"overall_score":    round2(total / float64(len(req.Scenarios))),
		"scenario_results": results,
		"system_metrics":   sys,
		"score_formula":    ScoreFormula,
		"iterations":       req.Iterations,
		"duration_capped":  capped,
		"time_budget_hit":  ctx.Err() != nil,
	}
	return out, nil
}

// collect waits for ids and folds their outcomes into res.
func collect(ctx context.Context, r *Runner, ids []string, res *BenchScenarioResult, recSum float64, recN, attempts int) (float64, int, int) {
	for _, id := range ids {
		op, err := r.Wait(ctx, id)
		if err != nil {
			_ = r.Cancel(id)
			op, _ = r.Get(id)
		}
		res.Iterations++
		attempts += op.TotalAttempts
		if op.State == StateSuccess {
			res.Succeeded++
			if op.FirstFailureAt != nil && op.FinishedAt != nil {
				recSum += op.FinishedAt.Sub(*op.FirstFailureAt).Seconds()
				recN++
			}
		}
	}
	return recSum, recN, attempts
}

func (r *Runner) handleBenchmark(w http.ResponseWriter, req *http.Request, _ httprouter.Params) {
	var body BenchmarkRequest
	if req.ContentLength != 0 {
		if err := api.DecodeJSON(w, req, &body, 64<<10); err != nil && !isEmptyBody(err) {
			api.WriteError(w, req, err)
			return
		}
	}
	res, err := r.Benchmark(req.Context(), body)
	if err != nil {
		api.WriteError(w, req, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "benchmark_results": res})
}
