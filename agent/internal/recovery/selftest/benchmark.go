package selftest

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
)

// Documented defaults of the benchmark request; each is a request field of the same name.
const (
	// DefaultIterations per scenario.
	DefaultIterations = 20
	// DefaultAttemptTimeoutMS cuts one transfer attempt (a stalled server otherwise holds it).
	DefaultAttemptTimeoutMS = 200
	// DefaultBenchPayloadBytes is the size of each benchmark transfer.
	DefaultBenchPayloadBytes = 16 << 10
	// MinBenchPayloadBytes leaves room for a fault to strike mid-body.
	MinBenchPayloadBytes = 1024
	// StallDelay is how long the timeout scenario's server stalls: longer than any attempt.
	StallDelay = 5 * time.Second
)

// DefaultBenchScenarios run when the request names none.
var DefaultBenchScenarios = []string{"network_failures", "timeout_failures", "resource_failures"}

// BenchmarkRequest is the body of POST /api/recovery/performance/benchmark. Zero fields take
// the documented defaults (duration: [recovery] max_test_duration).
type BenchmarkRequest struct {
	Scenarios        []string `json:"scenarios"`
	Iterations       int      `json:"iterations"`
	Duration         float64  `json:"duration"`
	AttemptTimeoutMS int      `json:"attempt_timeout_ms"`
	PayloadBytes     int      `json:"payload_bytes"`
}

// benchScenario is what each iteration of a benchmark scenario meets before it succeeds:
// iteration i meets it 1+i%2 times (once only, when the default policy of its class allows one
// fresh try).
type benchScenario struct {
	// inject plans n faults for the iteration's file name of size bytes: it returns the
	// server's faults, or fills the scratch disk.
	inject func(d *disk, name string, size int64, n int) []faultserver.FileFault
	once   bool
}

// serverFaults is a benchScenario whose faults come from the host, striking mid-body where a
// body is sent.
func serverFaults(fault func(mid int64) faultserver.FileFault, once bool) benchScenario {
	return benchScenario{once: once, inject: func(_ *disk, _ string, size int64, n int) []faultserver.FileFault {
		plan := make([]faultserver.FileFault, n)
		for i := range plan {
			plan[i] = fault(size / 2)
		}
		return plan
	}}
}

// benchScenarios are the benchmark's scenarios by request name.
var benchScenarios = map[string]benchScenario{
	"network_failures": serverFaults(func(mid int64) faultserver.FileFault { return faultserver.FileFault{ResetAfter: mid} }, false),
	"timeout_failures": serverFaults(func(int64) faultserver.FileFault { return faultserver.FileFault{Delay: StallDelay} }, false),
	// The disk holding the partial fills up mid-transfer (ENOSPC): the resource class.
	"resource_failures": {inject: func(d *disk, name string, size int64, n int) []faultserver.FileFault {
		d.fill(name, size/2, n)
		return nil
	}},
	"server_errors":       serverFaults(func(int64) faultserver.FileFault { return faultserver.FileFault{Status: http.StatusBadGateway} }, false),
	"integrity_failures":  serverFaults(func(mid int64) faultserver.FileFault { return faultserver.FileFault{Corrupt: mid} }, true),
	"truncated_transfers": serverFaults(func(mid int64) faultserver.FileFault { return faultserver.FileFault{TruncateAfter: mid} }, false),
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
	// LastError is the error of the last iteration that failed, if any.
	LastError string `json:"last_error,omitempty"`
}

// Benchmark runs iterations of each named scenario (a real download that meets one or two
// injected faults, then succeeds) through a scratch runner with the agent's configured
// policies, and reports the measured recovery and the agent's CPU, RSS and disk I/O.
func (p *Suite) Benchmark(ctx context.Context, req BenchmarkRequest) (map[string]any, error) {
	maxS := p.agent.Options().MaxTestDuration.Seconds()
	if len(req.Scenarios) == 0 {
		req.Scenarios = DefaultBenchScenarios
	}
	var names []string
	for n := range benchScenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, s := range req.Scenarios {
		if _, ok := benchScenarios[s]; !ok {
			return nil, invalid("unknown benchmark scenario %q", s).Suggest(fmt.Sprintf("Use any of %v", names))
		}
	}
	if req.Iterations == 0 {
		req.Iterations = DefaultIterations
	}
	if req.Iterations < 1 || req.Iterations > 1000 {
		return nil, invalid("iterations %d is out of range", req.Iterations).Suggest("Send iterations between 1 and 1000")
	}
	if req.Duration == 0 {
		req.Duration = maxS
	}
	if req.Duration < 0.2 || math.IsNaN(req.Duration) {
		return nil, invalid("duration %g is out of range", req.Duration).Suggest(fmt.Sprintf("Send duration in seconds, at most %g", maxS))
	}
	if req.AttemptTimeoutMS == 0 {
		req.AttemptTimeoutMS = DefaultAttemptTimeoutMS
	}
	if req.AttemptTimeoutMS < 10 || req.AttemptTimeoutMS > 60000 {
		return nil, invalid("attempt_timeout_ms %d is out of range", req.AttemptTimeoutMS).Suggest(fmt.Sprintf("Send attempt_timeout_ms between 10 and 60000, or omit it (%d)", DefaultAttemptTimeoutMS))
	}
	if req.PayloadBytes == 0 {
		req.PayloadBytes = DefaultBenchPayloadBytes
	}
	if req.PayloadBytes < MinBenchPayloadBytes || req.PayloadBytes > 16<<20 {
		return nil, invalid("payload_bytes %d is out of range", req.PayloadBytes).Suggest(fmt.Sprintf("Send payload_bytes between %d and 16777216", MinBenchPayloadBytes))
	}
	capped := req.Duration > maxS
	req.Duration = math.Min(req.Duration, maxS)
	release, err := p.agent.TestSlot()
	if err != nil {
		return nil, err
	}
	defer release()
	e, err := p.newEnv(ctx, time.Duration(req.AttemptTimeoutMS)*time.Millisecond, req.PayloadBytes)
	if err != nil {
		return nil, err
	}
	defer e.close()
	size := int64(req.PayloadBytes)
	sum := e.srv.SHA256() // every iteration's file has the same content

	ctx, cancel := context.WithTimeout(ctx, time.Duration(req.Duration*float64(time.Second)))
	defer cancel()
	batch := 2 * p.agent.Options().Workers
	start := sampleProc()
	results := map[string]BenchScenarioResult{}
	var total float64
	for _, name := range req.Scenarios {
		sc := benchScenarios[name]
		res := BenchScenarioResult{}
		var agg aggregate
		var ids []string
		for i := 0; i < req.Iterations && ctx.Err() == nil; i++ {
			n := 1 + i%2
			if sc.once {
				n = 1
			}
			file := fmt.Sprintf("%s-%d", name, i)
			plan := sc.inject(e.disk, file, size, n)
			res.InjectedFaults += n
			id, err := e.r.Submit(ctx, operation, map[string]any{"url": e.srv.Add(size, payloadSeed, plan...).URL(), "sha256": sum, "name": file})
			if err != nil {
				break
			}
			ids = append(ids, id)
			if len(ids) >= batch {
				agg.collect(ctx, e.r, ids, &res)
				ids = ids[:0]
			}
		}
		agg.collect(ctx, e.r, ids, &res)
		if res.Iterations > 0 {
			res.SuccessRate = round2(float64(res.Succeeded) / float64(res.Iterations))
			res.AverageAttempts = round2(float64(agg.attempts) / float64(res.Iterations))
		}
		if agg.recN > 0 {
			res.AverageRecoveryTime = math.Round(agg.recSum/float64(agg.recN)*1e4) / 1e4
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
	return map[string]any{
		"overall_score":    round2(total / float64(len(req.Scenarios))),
		"scenario_results": results,
		"system_metrics":   sys,
		"score_formula":    ScoreFormula,
		"iterations":       req.Iterations,
		"duration_capped":  capped,
		"time_budget_hit":  ctx.Err() != nil,
		"run": p.describe(map[string]any{
			"scenarios": req.Scenarios, "iterations": req.Iterations, "duration": req.Duration,
			"attempt_timeout_ms": req.AttemptTimeoutMS, "payload_bytes": req.PayloadBytes,
			"faults_per_iteration": "1 + iteration % 2 (integrity_failures: 1), striking mid-body", "batch": batch,
		}),
	}, nil
}

// aggregate sums what collect measures across a scenario's batches.
type aggregate struct {
	recSum         float64
	recN, attempts int
}

// collect waits for ids and folds their outcomes into res.
func (a *aggregate) collect(ctx context.Context, r *recovery.Runner, ids []string, res *BenchScenarioResult) {
	for _, id := range ids {
		op, err := r.Wait(ctx, id)
		if err != nil {
			_ = r.Cancel(id)
			op, _ = r.Get(id)
		}
		res.Iterations++
		a.attempts += op.TotalAttempts
		if op.State != recovery.StateSuccess && op.Error != "" {
			res.LastError = op.Error
		}
		if op.State == recovery.StateSuccess {
			res.Succeeded++
			if op.FirstFailureAt != nil && op.FinishedAt != nil {
				a.recSum += op.FinishedAt.Sub(*op.FirstFailureAt).Seconds()
				a.recN++
			}
		}
	}
}
