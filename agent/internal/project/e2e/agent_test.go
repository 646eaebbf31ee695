// Package e2e tests the project lifecycle with every real component wired as the agent wires
// them: store, recovery runner, process supervisor, port leases and the reverse proxy, over
// real git repositories, a real venv and a fake ComfyUI server process.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/project"
	"github.com/comfylauncher/launcher/agent/internal/project/bind"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/store"
	"github.com/julienschmidt/httprouter"
)

// Environment of the helper "agent" process.
const (
	envHelper   = "PROJECT_E2E_HELPER"
	envDataDir  = "PROJECT_E2E_DATA"
	envRepo     = "PROJECT_E2E_REPO"
	envAddrFile = "PROJECT_E2E_ADDR"
)

// agentConfig is what an in-process or helper agent needs.
type agentConfig struct {
	DataDir string
	Repo    string
}

func (c agentConfig) options() project.Options {
	return project.Options{
		DataDir: c.DataDir, ModelsDir: filepath.Join(c.DataDir, "models"), Repo: c.Repo, Ref: "master",
		Python: "python3", PortMin: 20000, PortMax: 20999, ReadyTimeout: 30 * time.Second, StopGrace: 5 * time.Second,
		ReconcileInterval: -1,
	}
}

// wired is one agent: every real component and an HTTP server on a loopback port.
type wired struct {
	db     *store.DB
	runner *recovery.Runner
	m      *project.Manager
	srv    *http.Server
	addr   string
	stopFn []func()
}

// wire builds the agent as the app package does.
func wire(cfg agentConfig) (*wired, error) {
	logger := slog.New(slog.DiscardHandler)
	db, err := store.Open(filepath.Join(cfg.DataDir, "db"), logger)
	if err != nil {
		return nil, err
	}
	if err := db.EnsureBuckets(store.DefaultBuckets...); err != nil {
		return nil, err
	}
	w := &wired{db: db}
	w.runner = recovery.New(db, nil, recovery.Options{Policies: map[recovery.Class]recovery.Policy{
		recovery.ClassUnknown: {Retry: false, MaxAttempts: 1},
	}})
	deps := project.Deps{Store: db, Ops: bind.RecoveryOps{Runner: w.runner}, Logger: logger}
	r := httprouter.New()
	extra := wireRuntime(&deps, r, logger) // supervisor, ports, proxy (runtime_test.go)
	w.m = project.New(deps, cfg.options())
	if err := w.m.Register(); err != nil {
		return nil, err
	}
	if err := w.runner.Start(context.Background()); err != nil {
		return nil, err
	}
	if extra.bind != nil {
		extra.bind(w.m)
	}
	if err := w.m.Start(context.Background()); err != nil {
		return nil, err
	}
	w.m.Routes(r)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w.addr = "http://" + ln.Addr().String()
	w.srv = &http.Server{Handler: r}
	go w.srv.Serve(ln)
	w.stopFn = append(w.stopFn, extra.stop)
	return w, nil
}

// close shuts the agent down the way the app does: processes are detached, not killed.
func (w *wired) close() {
	ctx := context.Background()
	w.srv.Close()
	w.m.Stop(ctx)
	w.runner.Stop(ctx)
	for _, f := range w.stopFn {
		if f != nil {
			f()
		}
	}
	w.db.Close()
}

// TestHelperProcess is the agent when the test binary is re-executed with envHelper set: it
// serves until killed.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(envHelper) != "1" {
		t.Skip("helper process only")
	}
	w, err := wire(agentConfig{DataDir: os.Getenv(envDataDir), Repo: os.Getenv(envRepo)})
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

func startHelper(t *testing.T, cfg agentConfig) *helperAgent {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), envHelper+"=1", envDataDir+"="+cfg.DataDir, envRepo+"="+cfg.Repo, envAddrFile+"="+addrFile)
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
