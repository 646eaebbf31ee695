package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/config/configtest"
	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches /metrics and parses the exposition text strictly.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return fams
}

// value is the value of the series of family name whose labels include want; ok false when
// there is none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func waitDownload(t *testing.T, base, id string) string {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, d := call(t, "GET", base+"/api/downloads/"+id, "")
		if s, _ := d["state"].(string); s == "success" || s == "failed" || s == "exhausted" || s == "cancelled" {
			return s
		}
	}
	t.Fatalf("download %s did not finish", id)
	return ""
}

// TestMetricsAfterScenario scripts a day on a node — a project installed and started, its
// ComfyUI killed and restarted, a model downloaded, a download that fails — and checks that
// /metrics shows each family with the right values.
func TestMetricsAfterScenario(t *testing.T) {
	for _, tool := range []string{"git", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: needed to install projects", tool)
		}
	}
	tmp := t.TempDir()
	fixtures := filepath.Join(tmp, "fixtures")
	if out, err := exec.Command(filepath.Join(repoRoot(t), "scripts", "make-fixtures.sh"), fixtures).CombinedOutput(); err != nil {
		t.Fatalf("make fixtures: %v\n%s", err, out)
	}
	t.Setenv("FAKE_COMFYUI_DELAY", "0.1")
	const gpuUUID = "GPU-cccccccc-0000-0000-0000-000000000000"
	cfg := configtest.Offline()
	cfg.Paths.DataDir = filepath.Join(tmp, "data")
	cfg.Paths.ModelsDir = filepath.Join(tmp, "data", "models")
	cfg.ComfyUI.Repo = filepath.Join(fixtures, "ComfyUI.git")
	cfg.ComfyUI.ReadyTimeout = config.Duration{Duration: 60 * time.Second}
	cfg.GPU.Provider = "fake"
	cfg.GPU.Fake = []config.FakeGPU{{UUID: gpuUUID, Name: "Fake L4", MemoryTotalMB: 24576, MemoryUsedMB: 1024}}
	cfg.GPU.DefaultEstimateMB = 2048
	cfg.Recovery.MaxAttempts = 1 // the failing download fails at once
	configtest.Require(t, cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler), "v9.9.9-test", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer func() {
		srv.Close()
		req, _ := http.NewRequest("POST", "/api/projects/night/stop", nil)
		a.Handler().ServeHTTP(httptest.NewRecorder(), req)
		a.shutdown(context.Background())
	}()
	base := srv.URL

	model := strings.Repeat("m", 300_000)
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/model.safetensors" {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "model.safetensors", time.Time{}, strings.NewReader(model))
	}))
	defer files.Close()

	if code, body := call(t, "POST", base+"/api/create_project", `{"name":"night","restart":"on-failure"}`); code != 200 {
		t.Fatalf("create: %d %v", code, body)
	}
	waitProjectState(t, base, "night", "ready")
	if code, body := call(t, "POST", base+"/api/projects/night/start", ""); code != 200 {
		t.Fatalf("start: %d %v", code, body)
	}
	waitProjectState(t, base, "night", "running")

	// A crash: the supervisor restarts ComfyUI, and the restart is counted by cause.
	_, p := call(t, "GET", base+"/api/projects/night", "")
	pid := int(p["state"].(map[string]any)["pid"].(float64))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		_, p = call(t, "GET", base+"/api/projects/night", "")
		st := p["state"].(map[string]any)
		if st["state"] == "running" && st["pid"] != nil && int(st["pid"].(float64)) != pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ComfyUI was not restarted after a crash: %v", st)
		}
	}

	code, sub := call(t, "POST", base+"/api/models/download", fmt.Sprintf(`{"url":%q,"folder":"checkpoints","filename":"good.safetensors"}`, files.URL+"/model.safetensors"))
	if code != 200 && code != 202 {
		t.Fatalf("download: %d %v", code, sub)
	}
	if s := waitDownload(t, base, sub["operation_id"].(string)); s != "success" {
		t.Fatalf("download ended %s", s)
	}
	code, sub = call(t, "POST", base+"/api/models/download", fmt.Sprintf(`{"url":%q,"folder":"loras","filename":"gone.safetensors"}`, files.URL+"/gone.safetensors"))
	if code != 200 && code != 202 {
		t.Fatalf("download: %d %v", code, sub)
	}
	failedState := waitDownload(t, base, sub["operation_id"].(string))
	if failedState == "success" {
		t.Fatal("a 404 download succeeded")
	}

	// A workflow preview runs the parser chain: the built-in parsers' calls are counted.
	if code, res := call(t, "POST", base+"/api/workflow/preview", `{"workflow_json":{"1":{"class_type":"CheckpointLoaderSimple","inputs":{"ckpt_name":"a.safetensors"}}}}`); code != 200 {
		t.Fatalf("preview: %d %v", code, res)
	}

	// One event client on /ws while scraping.
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.Contains(string(msg), "connected") {
		t.Fatalf("/ws greeting: %q %v", msg, err)
	}

	fams := scrape(t, base)
	expect := func(name string, labels map[string]string, want float64) {
		t.Helper()
		got, ok := value(fams, name, labels)
		if !ok {
			t.Errorf("%s%v: no such series", name, labels)
		} else if got != want {
			t.Errorf("%s%v = %v, want %v", name, labels, got, want)
		}
	}
	atLeast := func(name string, labels map[string]string, min float64) {
		t.Helper()
		if got, ok := value(fams, name, labels); !ok || got < min {
			t.Errorf("%s%v = %v (present %v), want >= %v", name, labels, got, ok, min)
		}
	}
	expect("launcher_build_info", map[string]string{"version": "v9.9.9-test"}, 1)
	expect("launcher_http_requests_total", map[string]string{"method": "POST", "route": "/api/create_project", "code": "200"}, 1)
	expect("launcher_http_requests_total", map[string]string{"method": "POST", "route": "/api/projects/:id/start", "code": "200"}, 1)
	atLeast("launcher_http_requests_total", map[string]string{"method": "GET", "route": "/api/projects/:id", "code": "200"}, 2)
	atLeast("launcher_http_request_duration_seconds", map[string]string{"method": "POST", "route": "/api/create_project"}, 1)
	expect("launcher_projects", map[string]string{"state": "running"}, 1)
	expect("launcher_projects", map[string]string{"state": "failed"}, 0)
	expect("launcher_comfyui_restarts_total", map[string]string{"cause": "unknown"}, 1)
	expect("launcher_comfyui_crash_loop_breakers_open", nil, 0)
	expect("launcher_operations", map[string]string{"function": "install_project", "state": "success"}, 1)
	expect("launcher_operations", map[string]string{"function": "download_model", "state": "success"}, 1)
	expect("launcher_operations", map[string]string{"function": "download_model", "state": failedState}, 1)
	expect("launcher_operations_finished_total", map[string]string{"state": "success"}, 2)
	expect("launcher_operation_retries_total", nil, 0) // max_attempts = 1: no retries
	host := strings.TrimPrefix(files.URL, "http://")
	expect("launcher_operation_breaker_state", map[string]string{"operation_type": "download_model", "target": host, "state": "CLOSED"}, 1)
	expect("launcher_operation_breaker_state", map[string]string{"operation_type": "download_model", "target": host, "state": "OPEN"}, 0)
	expect("launcher_operation_breaker_trips_total", map[string]string{"operation_type": "download_model", "target": host}, 0)
	expect("launcher_download_bytes", map[string]string{"state": "success"}, float64(len(model)))
	expect("launcher_downloads_active", nil, 0)
	expect("launcher_download_throughput_bytes_per_second", nil, 0)
	expect("launcher_model_store_bytes", map[string]string{"folder": "checkpoints"}, float64(len(model)))
	expect("launcher_model_store_files", map[string]string{"folder": "checkpoints"}, 1)
	expect("launcher_model_store_duplicate_reclaimable_bytes", nil, 0)
	atLeast("launcher_model_store_disk_free_bytes", nil, 1)
	expect("launcher_gpu_memory_total_bytes", map[string]string{"uuid": gpuUUID, "name": "Fake L4"}, 24576<<20)
	atLeast("launcher_gpu_memory_used_bytes", map[string]string{"uuid": gpuUUID}, 1024<<20)
	expect("launcher_gpu_memory_reserved_bytes", map[string]string{"uuid": gpuUUID}, 2048<<20)
	expect("launcher_gpu_projects", map[string]string{"uuid": gpuUUID}, 1)
	expect("launcher_event_clients", map[string]string{"transport": "ws"}, 1)
	expect("launcher_event_clients", map[string]string{"transport": "socketio"}, 0)
	expect("launcher_event_clients_dropped_total", nil, 0)
	atLeast("launcher_extension_calls_total", map[string]string{"extension": "builtin.loaders", "kind": "builtin"}, 1)
	expect("launcher_extension_errors_total", map[string]string{"extension": "builtin.loaders", "kind": "builtin"}, 0)
	atLeast("launcher_extension_call_seconds_total", map[string]string{"extension": "builtin.loaders", "kind": "builtin"}, 0)
	atLeast("go_goroutines", nil, 1)
	if t.Failed() {
		for name := range fams {
			if strings.HasPrefix(name, "launcher_") {
				t.Logf("family %s: %v", name, fams[name].GetMetric())
			}
		}
	}
}
