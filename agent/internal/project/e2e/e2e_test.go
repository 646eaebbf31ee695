package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
)

// killLeftovers kills ComfyUI processes a test leaves behind (an agent never kills them on
// shutdown, by design).
func killLeftovers(t *testing.T, dataDir string) {
	t.Cleanup(func() {
		out, _ := exec.Command("pgrep", "-f", dataDir).Output()
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
}

// TestEndToEnd: create -> installed -> start -> /system_stats through the proxy -> logs
// paginated -> stop -> delete, with every real component.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	fx := projecttest.MakeFixtures(t)
	node := fx.Node
	// projecttest.Python makes the venv from its template (a real "python3 -m venv");
	// project.TestInstallPipeline runs the venv step on plain python3.
	cfg := agentConfig{DataDir: t.TempDir(), Repo: fx.ComfyUI, Python: projecttest.Python(t)}
	killLeftovers(t, cfg.DataDir)
	w, err := wire(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	base := w.addr

	lj := fmt.Sprintf(`{"format":"comfyui_launcher","version":"1.0","workflow_json":{"nodes":[]},
"snapshot_json":{"comfyui":null,"git_custom_nodes":{%q:{"hash":null,"disabled":false}}},"files":[],"pip_requirements":[]}`, node)
	code, raw := do(t, "POST", base+"/api/create_project", fmt.Sprintf(`{"name":"E2E Project","port":%d,"launcher_json":%s,"launch_args":["--disable-auto-launch"]}`, projecttest.FreePort(t), lj))
	if code != 200 {
		t.Fatalf("create: %d %s", code, raw)
	}
	waitFor(t, base, "e2e-project", "ready", stateIs("ready"))
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "projects", "e2e-project", "comfyui", "custom_nodes", "custom-node", projecttest.NodeMarker)); err != nil {
		t.Fatalf("custom node install.py did not run: %v", err)
	}

	var port float64
	t.Run("start", func(t *testing.T) {
		code, raw := do(t, "POST", base+"/api/projects/e2e-project/start", "")
		var out map[string]any
		json.Unmarshal(raw, &out)
		if code != 200 || out["success"] != true {
			t.Fatalf("start: %d %s", code, raw)
		}
		port = out["port"].(float64)
		v := getProject(t, base, "e2e-project")
		if v.State.State != "running" || v.State.PID == nil || *v.State.Port != int(port) {
			t.Fatalf("after start: %+v", v.State)
		}
	})
	t.Run("system_stats through the proxy", func(t *testing.T) {
		code, raw := do(t, "GET", base+"/comfy/e2e-project/system_stats", "")
		var stats struct {
			System struct {
				Argv []string `json:"argv"`
			} `json:"system"`
		}
		if code != 200 || json.Unmarshal(raw, &stats) != nil {
			t.Fatalf("%d %s", code, raw)
		}
		argv := strings.Join(stats.System.Argv, " ")
		for _, want := range []string{fmt.Sprintf("--port %d", int(port)), "--extra-model-paths-config", "--disable-auto-launch"} {
			if !strings.Contains(argv, want) {
				t.Errorf("argv %q lacks %q", argv, want)
			}
		}
	})
	t.Run("logs paginated", func(t *testing.T) {
		var page struct {
			Logs []struct {
				Level, Message string
				Data           map[string]any
			} `json:"logs"`
			Pagination struct {
				Page    int `json:"page"`
				PerPage int `json:"per_page"`
				Total   int `json:"total"`
				Pages   int `json:"pages"`
			} `json:"pagination"`
		}
		code, raw := do(t, "GET", base+"/api/logs/e2e-project?page=2&per_page=3", "")
		if code != 200 || json.Unmarshal(raw, &page) != nil {
			t.Fatalf("%d %s", code, raw)
		}
		p := page.Pagination
		if len(page.Logs) != 3 || p.Page != 2 || p.PerPage != 3 || p.Total < 10 || p.Pages != (p.Total+2)/3 {
			t.Fatalf("page = %+v", page)
		}
		// ComfyUI's own output reaches the project log: the supervisor tails its log file, so
		// the lines arrive shortly after they are written.
		for i := 0; ; i++ {
			code, raw = do(t, "GET", base+"/api/logs/e2e-project?per_page=1000", "")
			if code == 200 && strings.Contains(string(raw), "To see the GUI go to") {
				break
			}
			if i > 500 {
				t.Fatalf("ComfyUI output missing from the logs: %d %s", code, raw)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("stop", func(t *testing.T) {
		if code, raw := do(t, "POST", base+"/api/projects/e2e-project/stop", ""); code != 200 {
			t.Fatalf("stop: %d %s", code, raw)
		}
		if v := getProject(t, base, "e2e-project"); v.State.State != "ready" || v.State.PID != nil {
			t.Fatalf("after stop: %+v", v.State)
		}
		if code, _ := do(t, "GET", base+"/comfy/e2e-project/system_stats", ""); code < 400 {
			t.Fatalf("proxy still answers for a stopped project: %d", code)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if code, raw := do(t, "POST", base+"/api/projects/e2e-project/delete", ""); code != 200 {
			t.Fatalf("delete: %d %s", code, raw)
		}
		if code, _ := do(t, "GET", base+"/api/projects/e2e-project", ""); code != 404 {
			t.Fatalf("get after delete: %d", code)
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "projects", "e2e-project")); !os.IsNotExist(err) {
			t.Fatalf("project folder left: %v", err)
		}
	})
}
