// Package e2e tests the project lifecycle through the real agent (app.New and Serve, as the
// binary runs it): store, recovery runner, process supervisor, port leases and the reverse
// proxy, over real git repositories, real venvs (linked from one made once per run) and a fake
// ComfyUI server process.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/app"
	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/config/configtest"
	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
)

// Environment of the helper "agent" process.
const (
	envHelper   = "PROJECT_E2E_HELPER"
	envDataDir  = "PROJECT_E2E_DATA"
	envRepo     = "PROJECT_E2E_REPO"
	envPython   = "PROJECT_E2E_PYTHON"
	envAddrFile = "PROJECT_E2E_ADDR"
)

func TestMain(m *testing.M) { projecttest.Main(m) }

// agentConfig is what an in-process or helper agent needs.
type agentConfig struct {
	DataDir string
	Repo    string
	// Python is comfyui.python (projecttest.Python).
	Python string
}

// config is the agent's launcher.toml for the test: loopback on an ephemeral port, no GPUs,
// no Manager data from the network. Projects that start get a fixed port from freePort: a
// shared port range would let two agents (parallel tests, other test runs on the host) lease
// the same port and one ComfyUI answer for the other.
func (c agentConfig) config() (*config.Config, error) {
	cfg := configtest.Offline()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Paths.DataDir = c.DataDir
	cfg.Paths.ModelsDir = filepath.Join(c.DataDir, "models")
	cfg.ComfyUI.Repo = c.Repo
	cfg.ComfyUI.Ref = "master"
	cfg.ComfyUI.Python = c.Python
	cfg.ComfyUI.ReadyTimeout = config.Duration{Duration: 60 * time.Second}
	cfg.ComfyUI.StopGrace = config.Duration{Duration: 5 * time.Second}
	cfg.Ports.Min, cfg.Ports.Max = 20000, 20999
	cfg.GPU.Provider = "none"
	if err := configtest.Check(cfg); err != nil {
		return nil, err
	}
	return cfg, cfg.Validate()
}

// wired is one agent as the binary runs it: app.New, then Serve until stopped.
type wired struct {
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// wire starts the real agent (app.New + Serve) and returns once it accepts connections.
func wire(c agentConfig) (*wired, error) {
	cfg, err := c.config()
	if err != nil {
		return nil, err
	}
	a, err := app.New(cfg, slog.New(slog.DiscardHandler), "e2e", io.Discard)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &wired{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() { w.done <- a.Serve(ctx, func(addr string) { ready <- addr }) }()
	select {
	case addr := <-ready:
		w.addr = "http://" + addr
		return w, nil
	case err := <-w.done:
		cancel()
		return nil, err
	}
}

// close shuts the agent down as SIGTERM does: in-flight requests finish, processes are
// detached (not killed), the store closes.
func (w *wired) close() error {
	w.cancel()
	return <-w.done
}

// TestHelperProcess is the agent when the test binary is re-executed with envHelper set: it
// serves until killed.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(envHelper) != "1" {
		t.Skip("helper process only")
	}
	w, err := wire(agentConfig{DataDir: os.Getenv(envDataDir), Repo: os.Getenv(envRepo), Python: os.Getenv(envPython)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(3)
	}
	if err := os.WriteFile(os.Getenv(envAddrFile), []byte(w.addr), 0o644); err != nil {
		os.Exit(4)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	w.close()
	os.Exit(0)
}

// helperAgent is a running helper agent process.
type helperAgent struct {
	cmd  *exec.Cmd
	addr string
}

// startHelper runs an agent in a child process (so it can be killed with SIGKILL); env is
// added to its environment, which ComfyUI and install.py inherit.
func startHelper(t *testing.T, cfg agentConfig, env ...string) *helperAgent {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), envHelper+"=1", envDataDir+"="+cfg.DataDir, envRepo+"="+cfg.Repo,
		envPython+"="+cfg.Python, envAddrFile+"="+addrFile)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helperAgent{cmd: cmd}
	t.Cleanup(func() { h.kill() })
	for i := 0; ; i++ {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			h.addr = string(b)
			return h
		}
		if i > 3000 {
			t.Fatal("helper agent did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill is kill -9: no shutdown code runs.
func (h *helperAgent) kill() {
	if h.cmd.Process != nil && h.cmd.ProcessState == nil {
		h.cmd.Process.Signal(syscall.SIGKILL)
		h.cmd.Wait()
	}
}

func do(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

type projectView struct {
	ID    string `json:"id"`
	Port  any    `json:"port"`
	State struct {
		State       string   `json:"state"`
		PID         *int     `json:"pid"`
		Port        *int     `json:"port"`
		Error       string   `json:"error"`
		FailedStep  string   `json:"failed_step"`
		Suggestions []string `json:"suggestions"`
	} `json:"state"`
}

func getProject(t *testing.T, base, id string) projectView {
	t.Helper()
	code, raw := do(t, "GET", base+"/api/projects/"+id, "")
	var v projectView
	if code != 200 || json.Unmarshal(raw, &v) != nil {
		t.Fatalf("get %s: %d %s", id, code, raw)
	}
	return v
}

// waitFor polls the project until pred holds.
func waitFor(t *testing.T, base, id string, what string, pred func(projectView) bool) projectView {
	t.Helper()
	for i := 0; ; i++ {
		v := getProject(t, base, id)
		if pred(v) {
			return v
		}
		if v.State.State == "failed" && !strings.Contains(what, "failed") {
			t.Fatalf("project %s failed at %s: %s", id, v.State.FailedStep, v.State.Error)
		}
		if i > 6000 {
			t.Fatalf("project %s: waited for %s; state %s", id, what, v.State.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stateIs(s string) func(projectView) bool {
	return func(v projectView) bool { return v.State.State == s }
}
