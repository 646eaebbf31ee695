package selftest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/store"
)

// fastOptions is fastAgent with 3 workers and a breaker the measured runs never trip: the
// endpoints must report these, not built-ins.
func fastOptions() recovery.Options {
	o := fastAgent()
	o.Workers, o.MaxTestDuration = 3, 5*time.Second
	o.Breaker.Threshold = 50
	return o
}

// newSuite is a Suite over a started runner with opts, on a store in a temp data_dir; the
// second result is the scratch directory runs must leave empty.
func newSuite(t *testing.T, opts recovery.Options) (*Suite, string) {
	t.Helper()
	data := t.TempDir()
	scratch := filepath.Join(data, "tmp")
	opts.ScratchDir = scratch
	db, err := store.Open(filepath.Join(data, "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := recovery.New(db, nil, opts)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(context.Background()) })
	return New(r, Downloads{PerHostConnections: 8, BreakerThreshold: 100, BreakerCooldown: time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil))), scratch
}

// TestMeasuredAsConfigured runs validate and benchmark with a tiny duration: throughput is
// measured through the real downloader, the response reports the configured policies and the
// parameters used, and the scratch store on disk is gone afterwards.
func TestMeasuredAsConfigured(t *testing.T) {
	if testing.Short() {
		t.Skip("measures for about two seconds")
	}
	t.Parallel()
	s, scratch := newSuite(t, fastOptions())
	ctx := context.Background()

	v, err := s.Validate(ctx, ValidateRequest{TestDuration: 0.6, ConcurrentOperations: 2, IncludeNetworkSimulation: true, FailureEvery: 4})
	if err != nil {
		t.Fatal(err)
	}
	if v.BaselineOpsPerSecond <= 0 || v.RecoveryOpsPerSecond <= 0 || len(v.Recommendations) == 0 {
		t.Fatalf("validation_results = %+v", v)
	}
	if v.RecoveryFailures != 0 || v.BaselineFailures == 0 {
		t.Fatalf("every 4th request a 502: baseline must lose some, recovery none: %+v", v)
	}
	run := v.Run
	if run.Policies["network"].BaseDelay != "5ms" || run.Workers != 3 || run.Breaker.Threshold != 50 {
		t.Fatalf("run does not report the configured options: %+v", run)
	}
	if p := run.Parameters; p["failure_every"] != 4 || p["operation_latency_ms"] != DefaultLatencyMS || p["max_impact_percent"] != DefaultMaxImpactPercent {
		t.Fatalf("parameters = %v", p)
	}
	if !strings.Contains(run.Downloader, "models/download") || !strings.Contains(run.Store, "nutsdb") {
		t.Fatalf("run = %+v", run)
	}

	b, err := s.Benchmark(ctx, BenchmarkRequest{Scenarios: []string{"network_failures", "resource_failures", "integrity_failures", "truncated_transfers"}, Iterations: 4, Duration: 5, AttemptTimeoutMS: 10000})
	if err != nil {
		t.Fatal(err)
	}
	// (timeout_failures is left out: whether an attempt is cut depends on the machine's load.)
	for name, sr := range b["scenario_results"].(map[string]BenchScenarioResult) {
		if sr.SuccessRate != 1 || sr.AverageRecoveryTime <= 0 || sr.Score <= 0 || sr.AverageAttempts <= 1 {
			t.Errorf("%s = %+v", name, sr)
		}
	}
	if p := b["run"].(Run).Parameters; p["attempt_timeout_ms"] != 10000 || p["payload_bytes"] != DefaultBenchPayloadBytes {
		t.Errorf("benchmark parameters = %v", p)
	}
	if sys := b["system_metrics"].(map[string]any); sys["memory_usage_mb"].(float64) <= 0 {
		t.Errorf("system_metrics = %v", sys)
	}
	left, _ := os.ReadDir(scratch)
	if len(left) != 0 {
		t.Errorf("scratch directory keeps %d entries after the runs", len(left))
	}
}
