package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
)

// comfyPIDs are the live processes running out of the project's folder (its venv's python
// with main.py); zombies do not count.
func comfyPIDs(t *testing.T, dataDir, id string) []int {
	t.Helper()
	out, _ := exec.Command("pgrep", "-f", filepath.Join(dataDir, "projects", id)+"/").Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + f + "/stat"); err == nil {
			if i := strings.LastIndexByte(string(stat), ')'); i > 0 && strings.HasPrefix(string(stat[i+1:]), " Z") {
				continue
			}
		}
		pids = append(pids, pid)
	}
	return pids
}

// TestKill9WhileComfyUIStarts kills the agent after ComfyUI was spawned and before it
// answered. The process was recorded at spawn, so the next agent re-adopts it: exactly one
// ComfyUI runs, the project says running with that pid, a second start starts nothing, and
// stop ends it.
func TestKill9WhileComfyUIStarts(t *testing.T) {
	t.Parallel()
	fx := projecttest.MakeFixtures(t)
	cfg := agentConfig{DataDir: t.TempDir(), Repo: fx.ComfyUI, Python: projecttest.Python(t)}
	killLeftovers(t, cfg.DataDir)
	gate := filepath.Join(t.TempDir(), "ready")
	env := "FAKE_COMFYUI_READY_GATE=" + gate // inherited by the agents' ComfyUI
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })

	a := startHelper(t, cfg, env)
	body := fmt.Sprintf(`{"name":"slow","restart":"never","port":%d}`, projecttest.FreePort(t))
	if code, raw := do(t, "POST", a.addr+"/api/create_project", body); code != 200 {
		t.Fatalf("create: %d %s", code, raw)
	}
	waitFor(t, a.addr, "slow", "ready", stateIs("ready"))
	go func() {
		// Blocks until ComfyUI answers; the agent dies first.
		if resp, err := http.Post(a.addr+"/api/projects/slow/start", "application/json", nil); err == nil {
			resp.Body.Close()
		}
	}()
	v := waitFor(t, a.addr, "slow", "starting with a recorded pid", func(v projectView) bool {
		return v.State.State == "starting" && v.State.PID != nil
	})
	pid := *v.State.PID
	a.kill()
	if got := comfyPIDs(t, cfg.DataDir, "slow"); len(got) != 1 || got[0] != pid {
		t.Fatalf("ComfyUI processes after the kill: %v, want [%d]", got, pid)
	}

	os.WriteFile(gate, nil, 0o644) // ComfyUI may answer now
	b := startHelper(t, cfg, env)
	v = waitFor(t, b.addr, "slow", "running", stateIs("running"))
	if v.State.PID == nil || *v.State.PID != pid {
		t.Fatalf("after restart: %+v, want the re-adopted pid %d", v.State, pid)
	}
	if code, raw := do(t, "POST", b.addr+"/api/projects/slow/start", ""); code != 200 {
		t.Fatalf("second start: %d %s", code, raw)
	}
	if got := comfyPIDs(t, cfg.DataDir, "slow"); len(got) != 1 || got[0] != pid {
		t.Fatalf("ComfyUI processes after a second start: %v, want [%d]", got, pid)
	}
	if code, raw := do(t, "POST", b.addr+"/api/projects/slow/stop", ""); code != 200 {
		t.Fatalf("stop: %d %s", code, raw)
	}
	for i := 0; len(comfyPIDs(t, cfg.DataDir, "slow")) > 0 && i < 500; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if got := comfyPIDs(t, cfg.DataDir, "slow"); len(got) != 0 {
		t.Fatalf("ComfyUI processes after stop: %v", got)
	}
}

// TestKill9WhileComfyUIStops kills the agent while it waits for a ComfyUI that ignores
// SIGTERM to stop. The next agent finds the recorded process of a project that was being
// stopped and ends it: the project is ready and no ComfyUI is left.
func TestKill9WhileComfyUIStops(t *testing.T) {
	t.Parallel()
	fx := projecttest.MakeFixtures(t)
	cfg := agentConfig{DataDir: t.TempDir(), Repo: fx.ComfyUI, Python: projecttest.Python(t)}
	killLeftovers(t, cfg.DataDir)
	env := "FAKE_COMFYUI_IGNORE_SIGTERM=1"

	a := startHelper(t, cfg, env)
	body := fmt.Sprintf(`{"name":"stuck","restart":"never","port":%d}`, projecttest.FreePort(t))
	if code, raw := do(t, "POST", a.addr+"/api/create_project", body); code != 200 {
		t.Fatalf("create: %d %s", code, raw)
	}
	waitFor(t, a.addr, "stuck", "ready", stateIs("ready"))
	if code, raw := do(t, "POST", a.addr+"/api/projects/stuck/start", ""); code != 200 {
		t.Fatalf("start: %d %s", code, raw)
	}
	pid := *getProject(t, a.addr, "stuck").State.PID
	go func() {
		// Waits out the stop grace period; the agent dies first.
		if resp, err := http.Post(a.addr+"/api/projects/stuck/stop", "application/json", nil); err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, a.addr, "stuck", "stopping", stateIs("stopping"))
	a.kill()
	if got := comfyPIDs(t, cfg.DataDir, "stuck"); len(got) != 1 || got[0] != pid {
		t.Fatalf("ComfyUI processes after the kill: %v, want [%d]", got, pid)
	}

	b := startHelper(t, cfg, env)
	if v := getProject(t, b.addr, "stuck"); v.State.State != "ready" || v.State.PID != nil {
		t.Fatalf("after restart: %+v, want ready without a process", v.State)
	}
	if got := comfyPIDs(t, cfg.DataDir, "stuck"); len(got) != 0 {
		t.Fatalf("ComfyUI processes after the restart: %v", got)
	}
}
