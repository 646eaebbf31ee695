package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/config/configtest"
	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// TestGPUPlacementEndToEnd runs the whole agent with the fake nvidia-smi first on PATH and
// two 6 GB GPUs: two projects start on different GPUs (pinned by UUID, as the fake ComfyUI
// reports from CUDA_VISIBLE_DEVICES), and a third is refused with a 409 that says why.
func TestGPUPlacementEndToEnd(t *testing.T) {
	fx := makeFixtures(t)
	root := repoRoot(t)
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	os.MkdirAll(bin, 0o755)
	if err := os.Symlink(filepath.Join(root, "scripts", "fake-nvidia-smi"), filepath.Join(bin, "nvidia-smi")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	const gpu0, gpu1 = "GPU-aaaaaaaa-0000-0000-0000-000000000000", "GPU-bbbbbbbb-1111-1111-1111-111111111111"
	t.Setenv("FAKE_NVIDIA_SMI_SPEC", "Fake A6000|6144|0|"+gpu0+";Fake A6000|6144|0|"+gpu1)
	t.Setenv("FAKE_COMFYUI_DELAY", "0.1")

	cfg := configtest.Offline()
	cfg.Paths.DataDir = filepath.Join(tmp, "data")
	cfg.Paths.ModelsDir = filepath.Join(tmp, "data", "models")
	cfg.ComfyUI.Repo = fx.ComfyUI
	cfg.ComfyUI.Python = projecttest.Python(t)
	cfg.ComfyUI.ReadyTimeout = config.Duration{Duration: 60 * time.Second}
	cfg.GPU.Provider = "nvidia-smi"
	cfg.GPU.ReserveMB = 512
	cfg.GPU.DefaultEstimateMB = 4096 // plain projects have no workflow: 4 GB each
	configtest.Require(t, cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler), "test", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer func() {
		srv.Close()
		a.stopProjects(t)
		a.shutdown(context.Background())
	}()

	ids := []string{"one", "two", "three"}
	for _, id := range ids {
		code, body := call(t, "POST", srv.URL+"/api/create_project", fmt.Sprintf(`{"name":%q,"port":%d}`, id, projecttest.FreePort(t)))
		if code != 200 {
			t.Fatalf("create %s: %d %v", id, code, body)
		}
	}
	for _, id := range ids {
		waitProjectState(t, srv.URL, id, "ready")
	}

	devices := map[string]string{}
	for _, id := range ids[:2] {
		code, body := call(t, "POST", srv.URL+"/api/projects/"+id+"/start", "")
		if code != 200 {
			t.Fatalf("start %s: %d %v", id, code, body)
		}
		// The fake ComfyUI lists the devices CUDA_VISIBLE_DEVICES gave it.
		code, stats := call(t, "GET", srv.URL+"/comfy/"+id+"/system_stats", "")
		if code != 200 {
			t.Fatalf("system_stats of %s: %d %v", id, code, stats)
		}
		devs, _ := stats["devices"].([]any)
		if len(devs) != 1 {
			t.Fatalf("%s sees devices %v, want exactly one pinned GPU", id, stats["devices"])
		}
		raw, _ := json.Marshal(devs[0])
		devices[id] = string(raw)
	}
	if !strings.Contains(devices["one"]+devices["two"], gpu0) || !strings.Contains(devices["one"]+devices["two"], gpu1) {
		t.Fatalf("projects were not pinned to the two GPUs by UUID: %v", devices)
	}

	code, body := call(t, "POST", srv.URL+"/api/projects/three/start", "")
	if code != http.StatusConflict || body["type"] != "InsufficientVRAMError" {
		t.Fatalf("third start: %d %v, want 409 InsufficientVRAMError", code, body)
	}
	msg, _ := body["error"].(string)
	sugg := fmt.Sprint(body["suggestions"])
	if !strings.Contains(msg, "4096") || !strings.Contains(sugg, "one") && !strings.Contains(sugg, "two") {
		t.Fatalf("refusal does not name the estimate and which project to stop: %q %s", msg, sugg)
	}
	if s := projectState(t, srv.URL, "three"); s != "ready" {
		t.Fatalf("refused project is %q, want it left ready", s)
	}

	code, gpus := call(t, "GET", srv.URL+"/api/gpus", "")
	list, _ := gpus["gpus"].([]any)
	if code != 200 || len(list) != 2 {
		t.Fatalf("/api/gpus: %d %v", code, gpus)
	}
	for _, g := range list {
		if ps, _ := g.(map[string]any)["projects"].([]any); len(ps) != 1 {
			t.Fatalf("each GPU should hold one project: %v", gpus)
		}
	}
}

// stopProjects stops the ComfyUI processes the test started (the agent leaves them running
// on shutdown by design).
func (a *App) stopProjects(t *testing.T) {
	for _, id := range []string{"one", "two", "three"} {
		req, _ := http.NewRequest("POST", "/api/projects/"+id+"/stop", nil)
		a.Handler().ServeHTTP(httptest.NewRecorder(), req)
	}
}

func call(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewBufferString(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func projectState(t *testing.T, base, id string) string {
	t.Helper()
	_, p := call(t, "GET", base+"/api/projects/"+id, "")
	st, _ := p["state"].(map[string]any)
	s, _ := st["state"].(string)
	return s
}

func waitProjectState(t *testing.T, base, id, want string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		s := projectState(t, base, id)
		if s == want {
			return
		}
		if s == "failed" {
			_, p := call(t, "GET", base+"/api/projects/"+id, "")
			t.Fatalf("%s failed: %v", id, p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not reach %s", id, want)
}
