package selftest

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
)

// Documented defaults of the validate request (also listed in /work/shared/spec/api.md terms:
// every one is a request field of the same name).
const (
	// DefaultLatencyMS is the fault server's response time per transfer: a nearby mirror.
	DefaultLatencyMS = 20.0
	// DefaultFailureEvery: with include_network_simulation, every Nth request gets a 502 (not a
	// connection reset: Go's transport silently retries those on reused connections).
	DefaultFailureEvery = 10
	// DefaultPayloadBytes is the size of each validate transfer.
	DefaultPayloadBytes = 4096
	// DefaultMaxImpactPercent: validation passes when the recovery layer costs at most this
	// much throughput and fails no more operations than the baseline.
	DefaultMaxImpactPercent = 25.0
	// DefaultAcceptableImpactPercent is the impact below which the advice is "acceptable".
	DefaultAcceptableImpactPercent = 10.0
)

// ValidateRequest is the body of POST /api/recovery/performance/validate. Zero fields take the
// documented defaults above (test_duration: min(10s, max_test_duration); concurrent_operations:
// [recovery] workers).
type ValidateRequest struct {
	TestDuration             float64  `json:"test_duration"`
	ConcurrentOperations     int      `json:"concurrent_operations"`
	IncludeNetworkSimulation bool     `json:"include_network_simulation"`
	OperationLatencyMS       *float64 `json:"operation_latency_ms"`
	FailureEvery             int      `json:"failure_every"`
	PayloadBytes             int      `json:"payload_bytes"`
	MaxImpactPercent         float64  `json:"max_impact_percent"`
	AcceptableImpactPercent  float64  `json:"acceptable_impact_percent"`
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
	// Run says what was measured: configured policies, store, downloader, parameters.
	Run Run `json:"run"`
}

func (p *Suite) normalizeValidate(req *ValidateRequest) error {
	maxS := p.agent.Options().MaxTestDuration.Seconds()
	if req.TestDuration == 0 {
		req.TestDuration = math.Min(10, maxS)
	}
	if req.TestDuration < 0.2 || req.TestDuration > maxS || math.IsNaN(req.TestDuration) {
		return invalid("test_duration %g is out of range", req.TestDuration).
			Suggest(fmt.Sprintf("Send test_duration in seconds between 0.2 and %g ([recovery] max_test_duration)", maxS))
	}
	if req.ConcurrentOperations == 0 {
		req.ConcurrentOperations = p.agent.Options().Workers
	}
	if req.ConcurrentOperations < 1 || req.ConcurrentOperations > 64 {
		return invalid("concurrent_operations %d is out of range", req.ConcurrentOperations).Suggest("Send concurrent_operations between 1 and 64")
	}
	if req.OperationLatencyMS == nil {
		v := DefaultLatencyMS
		req.OperationLatencyMS = &v
	}
	if l := *req.OperationLatencyMS; l < 0 || l > 10000 || math.IsNaN(l) {
		return invalid("operation_latency_ms %g is out of range", l).Suggest(fmt.Sprintf("Send operation_latency_ms between 0 and 10000, or omit it (%g)", DefaultLatencyMS))
	}
	if req.FailureEvery == 0 {
		req.FailureEvery = DefaultFailureEvery
	}
	if req.FailureEvery < 2 || req.FailureEvery > 1000 {
		return invalid("failure_every %d is out of range", req.FailureEvery).Suggest(fmt.Sprintf("Send failure_every between 2 and 1000, or omit it (%d)", DefaultFailureEvery))
	}
	if req.PayloadBytes == 0 {
		req.PayloadBytes = DefaultPayloadBytes
	}
	if req.PayloadBytes < 1 || req.PayloadBytes > 16<<20 {
		return invalid("payload_bytes %d is out of range", req.PayloadBytes).Suggest("Send payload_bytes between 1 and 16777216")
	}
	if req.MaxImpactPercent == 0 {
		req.MaxImpactPercent = DefaultMaxImpactPercent
	}
	if req.AcceptableImpactPercent == 0 {
		req.AcceptableImpactPercent = DefaultAcceptableImpactPercent
	}
	if req.AcceptableImpactPercent < 0 || req.MaxImpactPercent < req.AcceptableImpactPercent || math.IsNaN(req.MaxImpactPercent) {
		return invalid("impact thresholds %g/%g are out of order", req.AcceptableImpactPercent, req.MaxImpactPercent).
			Suggest("Send 0 <= acceptable_impact_percent <= max_impact_percent, or omit both (10 and 25)")
	}
	return nil
}

// Validate measures the same real transfers with and without the recovery layer, each for half
// of the duration with the same concurrency, and derives the overhead.
func (p *Suite) Validate(ctx context.Context, req ValidateRequest) (ValidateResult, error) {
	if err := p.normalizeValidate(&req); err != nil {
		return ValidateResult{}, err
	}
	release, err := p.agent.TestSlot()
	if err != nil {
		return ValidateResult{}, err
	}
	defer release()
	e, err := p.newEnv(ctx, 0, req.PayloadBytes)
	if err != nil {
		return ValidateResult{}, err
	}
	defer e.close()

	latency := *req.OperationLatencyMS
	file := e.srv.File
	file.Always(faultserver.FileFault{Delay: time.Duration(latency * float64(time.Millisecond))})
	if req.IncludeNetworkSimulation {
		file.Every(req.FailureEvery, faultserver.FileFault{Status: http.StatusBadGateway})
	}
	url, sum := file.URL(), file.SHA256()

	phase := time.Duration(req.TestDuration / 2 * float64(time.Second))
	res := ValidateResult{PhaseSeconds: phase.Seconds(), ConcurrentOperations: req.ConcurrentOperations, NetworkSimulation: req.IncludeNetworkSimulation, OperationLatencyMS: latency}
	base := measurePhase(ctx, phase, req.ConcurrentOperations, func(ctx context.Context) error {
		return e.fetch(ctx, url, sum)
	})
	rec := measurePhase(ctx, phase, req.ConcurrentOperations, func(ctx context.Context) error {
		id, err := e.r.Submit(ctx, operation, map[string]any{"url": url, "sha256": sum})
		if err != nil {
			return err
		}
		op, err := e.r.Wait(ctx, id)
		if err != nil {
			return err
		}
		if op.State != recovery.StateSuccess {
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
	res.ValidationPassed, res.Recommendations = p.recommend(req, res, base, rec)
	res.Run = p.describe(map[string]any{
		"test_duration": req.TestDuration, "concurrent_operations": req.ConcurrentOperations,
		"include_network_simulation": req.IncludeNetworkSimulation, "operation_latency_ms": latency,
		"failure_every": req.FailureEvery, "payload_bytes": req.PayloadBytes,
		"max_impact_percent": req.MaxImpactPercent, "acceptable_impact_percent": req.AcceptableImpactPercent,
	})
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

// heapSampleEvery is how often a phase samples the Go heap for memory_overhead_mb.
const heapSampleEvery = 50 * time.Millisecond

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
		t := time.NewTicker(heapSampleEvery)
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

// recommend derives advice from the measured numbers against the request's thresholds.
func (p *Suite) recommend(req ValidateRequest, res ValidateResult, base, rec phaseResult) (bool, []string) {
	workers := p.agent.Options().Workers
	var out []string
	passed := res.ImpactPercent <= req.MaxImpactPercent && res.RecoveryFailures <= res.BaselineFailures
	switch {
	case res.ImpactPercent <= req.AcceptableImpactPercent:
		out = append(out, fmt.Sprintf("Performance impact (%.1f%%) is within acceptable limits (%g%%)", res.ImpactPercent, req.AcceptableImpactPercent))
	case res.ImpactPercent <= req.MaxImpactPercent:
		out = append(out, fmt.Sprintf("Performance impact is %.1f%%: every state change is an fsync'd store write, which dominates for transfers this short; real downloads and installs amortise it", res.ImpactPercent))
	default:
		out = append(out, fmt.Sprintf("Performance impact is high (%.1f%%, limit %g%%) for %gms transfers: each operation persists about 4 fsync'd state changes, so very short operations (or a slow data disk) pay relatively more", res.ImpactPercent, req.MaxImpactPercent, res.OperationLatencyMS))
	}
	if math.Abs(res.MemoryOverheadMB) < 10 {
		out = append(out, fmt.Sprintf("Memory overhead is minimal (%.1f MB)", res.MemoryOverheadMB))
	} else {
		out = append(out, fmt.Sprintf("Memory overhead is %.1f MB: finished operations stay in memory; lower [recovery] keep_finished", res.MemoryOverheadMB))
	}
	if res.NetworkSimulation && base.ok+base.failed > 0 {
		bf := 100 * float64(base.failed) / float64(base.ok+base.failed)
		rf := 0.0
		if rec.ok+rec.failed > 0 {
			rf = 100 * float64(rec.failed) / float64(rec.ok+rec.failed)
		}
		out = append(out, fmt.Sprintf("With one request in %d failing (HTTP 502), %.1f%% of transfers failed without recovery and %.1f%% with it", req.FailureEvery, bf, rf))
	}
	if res.RecoveryFailures > res.BaselineFailures {
		out = append(out, "The recovery layer failed more operations than the baseline: check the agent log and the configured [recovery.policy] for the failing class")
	}
	if res.ConcurrentOperations > workers {
		out = append(out, fmt.Sprintf("Only %d workers run steps at once; raise [recovery] workers if you need more than %d concurrent operations", workers, workers))
	} else if res.ConcurrentOperations < workers {
		out = append(out, fmt.Sprintf("Consider increasing concurrent_operations (up to %d workers) for better throughput", workers))
	}
	return passed, out
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
