package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
)

// gatedInstallPy blocks in install.py until the gate file exists, so the test can kill the
// agent while the install_custom_nodes step runs.
const gatedInstallPy = `import os, time
open('started.marker', 'w').write('1')
gate = os.environ.get('PROJECT_E2E_GATE', '')
while gate and not os.path.exists(gate):
    time.sleep(0.05)
open('installed.marker', 'w').write('ok')
`

// TestKill9DuringInstall kills the agent with SIGKILL while a custom node installs; a new
// agent on the same data dir resumes the operation at that step and finishes it.
func TestKill9DuringInstall(t *testing.T) {
	t.Parallel()
	fx := projecttest.MakeFixtures(t)
	projecttest.WriteFiles(t, fx.Node, map[string]string{"install.py": gatedInstallPy})
	projecttest.Git(t, fx.Node, "commit", "-q", "-am", "gated install")
	nodeHash := projecttest.Git(t, fx.Node, "rev-parse", "HEAD")
	gate := filepath.Join(t.TempDir(), "gate")
	gateEnv := "PROJECT_E2E_GATE=" + gate
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) }) // release an orphaned install.py

	cfg := agentConfig{DataDir: t.TempDir(), Repo: fx.ComfyUI, Python: projecttest.Python(t)}
	a := startHelper(t, cfg, gateEnv)
	lj := fmt.Sprintf(`{"format":"comfyui_launcher","snapshot_json":{"comfyui":null,"git_custom_nodes":{%q:{"hash":%q,"disabled":false}}},"files":[]}`, fx.Node, nodeHash)
	code, raw := do(t, "POST", a.addr+"/api/create_project", `{"name":"resume me","launcher_json":`+lj+`}`)
	if code != 200 {
		t.Fatalf("create: %d %s", code, raw)
	}
	nodeDir := filepath.Join(cfg.DataDir, "projects", "resume-me", "comfyui", "custom_nodes", "custom-node")
	started := filepath.Join(nodeDir, "started.marker")
	waitFor(t, a.addr, "resume-me", "install.py running", func(v projectView) bool {
		_, err := os.Stat(started)
		return v.State.State == "install_custom_nodes" && err == nil
	})
	a.kill()
	os.Remove(started)

	b := startHelper(t, cfg, gateEnv)
	if v := getProject(t, b.addr, "resume-me"); v.State.State != "install_custom_nodes" {
		t.Fatalf("after restart: state %s, want install_custom_nodes", v.State.State)
	}
	// install.py runs again in the new agent: the step resumed, it did not start over.
	waitFor(t, b.addr, "resume-me", "install.py re-run", func(projectView) bool {
		_, err := os.Stat(started)
		return err == nil
	})
	os.WriteFile(gate, nil, 0o644)
	waitFor(t, b.addr, "resume-me", "ready", stateIs("ready"))

	code, raw = do(t, "GET", b.addr+"/api/logs/resume-me?per_page=1000", "")
	var logs struct {
		Logs []struct{ Message string } `json:"logs"`
	}
	if code != 200 || json.Unmarshal(raw, &logs) != nil {
		t.Fatalf("logs: %d %s", code, raw)
	}
	comfyClones, resumed := 0, false
	for _, l := range logs.Logs {
		if strings.HasPrefix(l.Message, "$ git clone -- "+fx.ComfyUI+" ") {
			comfyClones++
		}
		if strings.Contains(l.Message, "install resumes at install_custom_nodes") {
			resumed = true
		}
	}
	if comfyClones != 1 || !resumed {
		t.Fatalf("ComfyUI cloned %d times (want 1), resume logged = %v", comfyClones, resumed)
	}
	if _, err := os.Stat(filepath.Join(nodeDir, "installed.marker")); err != nil {
		t.Fatal("install.py did not finish")
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestKill9WhileRunning kills the agent with SIGKILL while ComfyUI runs: ComfyUI keeps
// running, and the next agent re-adopts it (same pid, proxied again) instead of reporting a
// stale "running" or starting a second copy. A ComfyUI that died while no agent watched
// becomes ready (restart = "never"), never "running".
func TestKill9WhileRunning(t *testing.T) {
	t.Parallel()
	fx := projecttest.MakeFixtures(t)
	cfg := agentConfig{DataDir: t.TempDir(), Repo: fx.ComfyUI, Python: projecttest.Python(t)}
	killLeftovers(t, cfg.DataDir)
	a := startHelper(t, cfg)
	for _, name := range []string{"keeper", "goner"} {
		if code, raw := do(t, "POST", a.addr+"/api/create_project", fmt.Sprintf(`{"name":%q,"restart":"never","port":%d}`, name, projecttest.FreePort(t))); code != 200 {
			t.Fatalf("create: %d %s", code, raw)
		}
	}
	pids := map[string]int{}
	for _, name := range []string{"keeper", "goner"} {
		waitFor(t, a.addr, name, "ready", stateIs("ready"))
		if code, raw := do(t, "POST", a.addr+"/api/projects/"+name+"/start", ""); code != 200 {
			t.Fatalf("start: %d %s", code, raw)
		}
		pids[name] = *getProject(t, a.addr, name).State.PID
	}
	a.kill()
	if !alive(pids["keeper"]) {
		t.Fatal("ComfyUI died with the agent")
	}
	// goner's process group dies while no agent runs.
	syscall.Kill(-pids["goner"], syscall.SIGKILL)

	b := startHelper(t, cfg)
	v := getProject(t, b.addr, "keeper")
	if v.State.State != "running" || v.State.PID == nil || *v.State.PID != pids["keeper"] {
		t.Fatalf("keeper after restart: %+v (pid before %d)", v.State, pids["keeper"])
	}
	if code, raw := do(t, "GET", b.addr+"/comfy/keeper/system_stats", ""); code != 200 {
		t.Fatalf("proxy after re-adoption: %d %s", code, raw)
	}
	if g := getProject(t, b.addr, "goner"); g.State.State != "ready" || g.State.PID != nil {
		t.Fatalf("goner after restart: %+v", g.State)
	}
	if code, raw := do(t, "POST", b.addr+"/api/projects/keeper/stop", ""); code != 200 {
		t.Fatalf("stop: %d %s", code, raw)
	}
	for i := 0; alive(pids["keeper"]) && i < 500; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if alive(pids["keeper"]) {
		t.Fatal("re-adopted ComfyUI survived stop")
	}
}
