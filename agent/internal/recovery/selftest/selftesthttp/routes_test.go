package selftesthttp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/recovery/selftest"
	"github.com/comfylauncher/launcher/agent/internal/store"
)

// router routes a Suite over a started runner with the default policies (the endpoints run
// only scenarios that never back off) on a store in a temp data_dir.
func router(t *testing.T) http.Handler {
	t.Helper()
	data := t.TempDir()
	db, err := store.Open(filepath.Join(data, "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := recovery.New(db, nil, recovery.Options{ScratchDir: filepath.Join(data, "tmp"), MaxTestDuration: time.Minute})
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(context.Background()) })
	rt := httprouter.New()
	Routes(rt, selftest.New(r, selftest.Downloads{PerHostConnections: 8, BreakerThreshold: 100, BreakerCooldown: time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil))))
	return rt
}

// request answers one request in process and decodes the JSON reply.
func request(t *testing.T, h http.Handler, method, path, body string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s %s: decode %q: %v", method, path, rec.Body.String(), err)
	}
	return rec.Code, m
}

// TestBadRequests: out-of-range parameters are a 400 with the spec's envelope.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	h := router(t)
	for _, tc := range []struct{ path, body string }{
		{"/api/recovery/performance/validate", `{"test_duration":100000}`},
		{"/api/recovery/performance/validate", `{"test_duration":1,"concurrent_operations":1000}`},
		{"/api/recovery/performance/validate", `{"test_duration":1,"failure_every":1}`},
		{"/api/recovery/performance/validate", `{"test_duration":1,"max_impact_percent":5,"acceptable_impact_percent":9}`},
		{"/api/recovery/performance/benchmark", `{"scenarios":["x"]}`},
		{"/api/recovery/performance/benchmark", `{"iterations":0.5}`},
		{"/api/recovery/performance/benchmark", `{"attempt_timeout_ms":1}`},
	} {
		status, m := request(t, h, http.MethodPost, tc.path, tc.body)
		if status != 400 || m["error"] == nil || m["type"] == nil {
			t.Errorf("%s %s = %d %v", tc.path, tc.body, status, m)
		}
	}
}

// TestScenarioEndpoints: POST /api/recovery/test, GET /api/recovery/testing/scenarios and POST
// /api/recovery/testing/run keep the spec's response shapes.
func TestScenarioEndpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("runs loopback scenarios")
	}
	t.Parallel()
	h := router(t)
	for _, tt := range []struct {
		name, method, path, body string
		wantStatus               int
		check                    func(t *testing.T, m map[string]any)
	}{
		{"self test", "POST", "/api/recovery/test", "", 200, func(t *testing.T, m map[string]any) {
			tr := m["test_results"].(map[string]any)
			if tr["overall"] != "PASS" || tr["persistence_test"] != true || tr["circuit_breaker_test"] != true {
				t.Errorf("test_results = %v", tr)
			}
		}},
		{"scenarios", "GET", "/api/recovery/testing/scenarios", "", 200, func(t *testing.T, m map[string]any) {
			sc := m["scenarios"].([]any)
			first := sc[0].(map[string]any)
			if len(sc) < 10 || first["id"] == nil || first["duration_seconds"] == nil || first["category"] == nil {
				t.Errorf("scenarios = %v", sc)
			}
		}},
		{"run selected scenarios", "POST", "/api/recovery/testing/run", `{"scenarios":["auth_rejected","not_found_no_retry","crash_resume"]}`, 200, func(t *testing.T, m map[string]any) {
			tr := m["test_results"].(map[string]any)
			if tr["total_tests"] != float64(3) || tr["passed_tests"] != float64(3) || tr["success_rate"] != float64(1) || !strings.Contains(fmt.Sprint(tr["run"]), "models/download") {
				t.Errorf("test_results = %v", tr)
			}
			if _, ok := tr["test_summary"].(map[string]any)["integration_tests"]; !ok {
				t.Errorf("test_summary = %v", tr["test_summary"])
			}
		}},
		{"run unknown scenario", "POST", "/api/recovery/testing/run", `{"scenarios":["nope"]}`, 400, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, m := request(t, h, tt.method, tt.path, tt.body)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %v", status, tt.wantStatus, m)
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}
