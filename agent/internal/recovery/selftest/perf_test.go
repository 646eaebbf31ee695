package selftest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/julienschmidt/httprouter"

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

func serve(t *testing.T, opts recovery.Options) (*httptest.Server, string) {
	t.Helper()
	s, scratch := newSuite(t, opts)
	rt := httprouter.New()
	s.Routes(rt)
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return srv, scratch
}

func call(t *testing.T, srv *httptest.Server, path, body string) (int, map[string]any) {
	t.Helper()
	return request(t, srv, http.MethodPost, path, body)
}

func request(t *testing.T, srv *httptest.Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s: decode: %v", path, err)
	}
	return resp.StatusCode, m
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	srv, _ := serve(t, fastOptions())
	for _, tc := range []struct{ path, body string }{
		{"/api/recovery/performance/validate", `{"test_duration":100000}`},
		{"/api/recovery/performance/validate", `{"test_duration":1,"concurrent_operations":1000}`},
		{"/api/recovery/performance/validate", `{"test_duration":1,"failure_every":1}`},
		{"/api/recovery/performance/validate", `{"test_duration":1,"max_impact_percent":5,"acceptable_impact_percent":9}`},
		{"/api/recovery/performance/benchmark", `{"scenarios":["x"]}`},
		{"/api/recovery/performance/benchmark", `{"iterations":0.5}`},
		{"/api/recovery/performance/benchmark", `{"attempt_timeout_ms":1}`},
	} {
		status, m := call(t, srv, tc.path, tc.body)
		if status != 400 || m["error"] == nil || m["type"] == nil {
			t.Errorf("%s %s = %d %v", tc.path, tc.body, status, m)
		}
	}
}

// TestMeasuredAsConfigured runs validate and benchmark with a tiny duration: throughput is
// measured through the real downloader, the response reports the configured policies and the
// parameters used, and the scratch store on disk is gone afterwards.
func TestMeasuredAsConfigured(t *testing.T) {
	if testing.Short() {
		t.Skip("measures for about two seconds")
	}
	t.Parallel()
	opts := fastOptions()
	srv, scratch := serve(t, opts)

	status, m := call(t, srv, "/api/recovery/performance/validate", `{"test_duration":0.6,"concurrent_operations":2,"include_network_simulation":true,"failure_every":4}`)
	if status != 200 {
		t.Fatalf("validate: %d %v", status, m)
	}
	v := m["validation_results"].(map[string]any)
	if v["baseline_operations_per_second"].(float64) <= 0 || v["recovery_operations_per_second"].(float64) <= 0 || len(v["recommendations"].([]any)) == 0 {
		t.Fatalf("validation_results = %v", v)
	}
	if v["recovery_failures"].(float64) != 0 || v["baseline_failures"].(float64) == 0 {
		t.Fatalf("every 4th request a 502: baseline must lose some, recovery none: %v", v)
	}
	run := v["run"].(map[string]any)
	net := run["policies"].(map[string]any)["network"].(map[string]any)
	if net["base_delay"] != "5ms" || run["workers"] != float64(3) || run["breaker"].(map[string]any)["threshold"] != float64(50) {
		t.Fatalf("run does not report the configured options: %v", run)
	}
	if p := run["parameters"].(map[string]any); p["failure_every"] != float64(4) || p["operation_latency_ms"] != DefaultLatencyMS || p["max_impact_percent"] != DefaultMaxImpactPercent {
		t.Fatalf("parameters = %v", p)
	}
	if !strings.Contains(run["downloader"].(string), "models/download") || !strings.Contains(run["store"].(string), "nutsdb") {
		t.Fatalf("run = %v", run)
	}

	status, m = call(t, srv, "/api/recovery/performance/benchmark", `{"scenarios":["network_failures","resource_failures","integrity_failures","truncated_transfers"],"iterations":4,"duration":5,"attempt_timeout_ms":10000}`)
	if status != 200 {
		t.Fatalf("benchmark: %d %v", status, m)
	}
	b := m["benchmark_results"].(map[string]any)
	// (timeout_failures is left out: whether an attempt is cut depends on the machine's load.)
	for name, raw := range b["scenario_results"].(map[string]any) {
		sr := raw.(map[string]any)
		if sr["success_rate"] != float64(1) || sr["average_recovery_time"].(float64) <= 0 || sr["score"].(float64) <= 0 || sr["average_attempts"].(float64) <= 1 {
			t.Errorf("%s = %v", name, sr)
		}
	}
	if p := b["run"].(map[string]any)["parameters"].(map[string]any); p["attempt_timeout_ms"] != float64(10000) || p["payload_bytes"] != float64(DefaultBenchPayloadBytes) {
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
