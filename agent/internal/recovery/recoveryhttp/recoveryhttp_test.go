package recoveryhttp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/recovery/recoveryhttp"
	"github.com/comfylauncher/launcher/agent/internal/store"
)

// startRunner runs a Runner with defs on a real store in a temporary directory.
func startRunner(t *testing.T, defs ...recovery.Definition) *recovery.Runner {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := recovery.New(db, nil, recovery.Options{})
	for _, d := range defs {
		r.Register(d)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	return r
}

func wait(t *testing.T, r *recovery.Runner, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if op, err := r.Wait(ctx, id); err != nil {
		t.Fatalf("wait %s: %v (state %s)", id, err, op.State)
	}
}

func serve(t *testing.T, r *recovery.Runner) *httptest.Server {
	t.Helper()
	rt := httprouter.New()
	recoveryhttp.Routes(rt, r)
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s %s: decode: %v", method, path, err)
	}
	return resp.StatusCode, m
}

func TestAPIOperations(t *testing.T) {
	block := make(chan struct{})
	defs := []recovery.Definition{
		{Name: "ok_op", Steps: []recovery.Step{{Name: "s", Run: func(context.Context, *recovery.Op) error { return nil }}}},
		{Name: "bad_op", Steps: []recovery.Step{{Name: "s", Run: func(context.Context, *recovery.Op) error { return recovery.HTTPError(404, nil, "model") }}}},
		{Name: "slow_op", Steps: []recovery.Step{{Name: "s", Run: func(ctx context.Context, _ *recovery.Op) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-block:
				return nil
			}
		}}}},
	}
	r := startRunner(t, defs...)
	defer close(block)
	okID, _ := r.Submit(context.Background(), "ok_op", map[string]any{"url": "https://example.com/m.safetensors"})
	wait(t, r, okID)
	badID, _ := r.Submit(context.Background(), "bad_op", nil)
	wait(t, r, badID)
	slowID, _ := r.Submit(context.Background(), "slow_op", nil)
	srv := serve(t, r)

	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		check      func(t *testing.T, m map[string]any)
	}{
		{"status", "GET", "/api/recovery/status", "", 200, func(t *testing.T, m map[string]any) {
			rec := m["recovery"].(map[string]any)
			for _, k := range []string{"enabled", "persistence_enabled", "max_retries", "circuit_breaker_threshold", "active_operations", "total_operations", "recovered_operations", "failed_operations", "average_recovery_time", "retry_attempts"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("status lacks %s", k)
				}
			}
			if rec["total_operations"] != float64(2) || rec["failed_operations"] != float64(1) {
				t.Errorf("status totals = %v", rec)
			}
		}},
		{"list all", "GET", "/api/recovery/operations", "", 200, func(t *testing.T, m map[string]any) {
			if n := len(m["operations"].([]any)); n != 3 {
				t.Errorf("%d operations, want 3", n)
			}
		}},
		{"list by states", "GET", "/api/recovery/operations?state=failed,success", "", 200, func(t *testing.T, m map[string]any) {
			if n := len(m["operations"].([]any)); n != 2 {
				t.Errorf("%d operations, want 2", n)
			}
		}},
		{"list by function", "GET", "/api/recovery/operations?function=ok_op", "", 200, func(t *testing.T, m map[string]any) {
			ops := m["operations"].([]any)
			if len(ops) != 1 || ops[0].(map[string]any)["operation_id"] != okID {
				t.Errorf("operations = %v", ops)
			}
		}},
		{"list bad state", "GET", "/api/recovery/operations?state=bogus", "", 400, nil},
		{"list bad limit", "GET", "/api/recovery/operations?limit=-1", "", 400, nil},
		{"get", "GET", "/api/recovery/operations/" + okID, "", 200, func(t *testing.T, m map[string]any) {
			op := m["operation"].(map[string]any)
			for _, k := range []string{"operation_id", "function_name", "state", "attempt", "max_attempts", "created_at", "updated_at", "metadata"} {
				if _, ok := op[k]; !ok {
					t.Errorf("operation lacks %s", k)
				}
			}
			if op["metadata"].(map[string]any)["url"] != "https://example.com/m.safetensors" {
				t.Errorf("metadata = %v", op["metadata"])
			}
		}},
		{"get unknown", "GET", "/api/recovery/operations/op_nope", "", 404, func(t *testing.T, m map[string]any) {
			if len(m["suggestions"].([]any)) == 0 || m["type"] != "OperationNotFoundError" {
				t.Errorf("envelope = %v", m)
			}
		}},
		{"retry running refused", "POST", "/api/recovery/operations/" + slowID + "/retry", `{"force":false}`, 409, nil},
		{"retry bad max_attempts", "POST", "/api/recovery/operations/" + badID + "/retry", `{"max_attempts":-2}`, 400, nil},
		{"retry bad json", "POST", "/api/recovery/operations/" + badID + "/retry", `{"force":"yes"}`, 400, nil},
		{"retry failed", "POST", "/api/recovery/operations/" + badID + "/retry", `{"max_attempts":3}`, 200, func(t *testing.T, m map[string]any) {
			if !strings.HasPrefix(m["retry_id"].(string), "retry_") || m["success"] != true {
				t.Errorf("retry response = %v", m)
			}
		}},
		{"cancel running", "POST", "/api/recovery/operations/" + slowID + "/cancel", "", 200, func(t *testing.T, m map[string]any) {
			if m["state"] != "cancelled" {
				t.Errorf("cancel response = %v", m)
			}
		}},
		{"cancel finished", "POST", "/api/recovery/operations/" + okID + "/cancel", "", 409, nil},
		{"performance", "GET", "/api/recovery/performance", "", 200, func(t *testing.T, m map[string]any) {
			p := m["performance"].(map[string]any)
			for _, k := range []string{"total_operations", "recovered_operations", "failed_operations", "average_recovery_time", "retry_attempts", "circuit_breaker_trips", "success_rate", "average_attempts_per_recovery"} {
				if _, ok := p[k]; !ok {
					t.Errorf("performance lacks %s", k)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, m := call(t, srv, tt.method, tt.path, tt.body)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %v", status, tt.wantStatus, m)
			}
			if status >= 400 {
				if _, ok := m["suggestions"].([]any); !ok || m["error"] == nil || m["type"] == nil {
					t.Fatalf("error envelope = %v", m)
				}
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}
