package process

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
)

// fakeDir is the fake ComfyUI checkout (scripts/fake_comfyui).
func fakeDir(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not found")
	}
	d, err := filepath.Abs("../../../scripts/fake_comfyui")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// testSpec runs the fake with python3 and a short startup delay.
func testSpec(t testing.TB, id string, env map[string]string) Spec {
	e := map[string]string{"FAKE_COMFYUI_DELAY": "0.1"}
	for k, v := range env {
		e[k] = v
	}
	return Spec{
		ProjectID: id, Dir: fakeDir(t), Python: "python3", Port: projecttest.FreePort(t),
		Args: []string{"--cpu", "--disable-auto-launch"}, Env: e, LogDir: t.TempDir(),
		ReadyTimeout: 30 * time.Second, StopGrace: 5 * time.Second, Restart: RestartNever,
	}
}

// recorder collects hook calls.
type recorder struct {
	mu       sync.Mutex
	logs     []LogLine
	ready    []Record
	exits    []ExitInfo
	restarts []int
}

func (r *recorder) hooks() Hooks {
	return Hooks{
		OnLog:     func(_ string, l LogLine) { r.mu.Lock(); r.logs = append(r.logs, l); r.mu.Unlock() },
		OnReady:   func(_ string, rec Record) { r.mu.Lock(); r.ready = append(r.ready, rec); r.mu.Unlock() },
		OnExit:    func(_ string, i ExitInfo) { r.mu.Lock(); r.exits = append(r.exits, i); r.mu.Unlock() },
		OnRestart: func(_ string, a int, _ time.Duration) { r.mu.Lock(); r.restarts = append(r.restarts, a); r.mu.Unlock() },
	}
}

func (r *recorder) snapshot() (logs []LogLine, ready []Record, exits []ExitInfo, restarts []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(logs, r.logs...), append(ready, r.ready...), append(exits, r.exits...), append(restarts, r.restarts...)
}

// logLine returns the first line containing s.
func (r *recorder) logLine(s string) (LogLine, bool) {
	logs, _, _, _ := r.snapshot()
	for _, l := range logs {
		if strings.Contains(l.Message, s) {
			return l, true
		}
	}
	return LogLine{}, false
}

// eventually polls cond until it holds; it bounds a wait, it does not time anything.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testOptions() Options {
	return Options{PollInterval: 20 * time.Millisecond, BackoffBase: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond}
}

// newTestSupervisor returns a supervisor whose processes are stopped at the end of the test.
func newTestSupervisor(t testing.TB, rec *recorder, opts Options) (*Supervisor, *syncBuffer) {
	buf := &syncBuffer{}
	s := New(slog.New(slog.NewTextHandler(buf, nil)), rec.hooks(), opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.StopAll(ctx)
	})
	return s, buf
}

type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

// systemStats fetches /system_stats from port.
func systemStats(t testing.TB, port int) map[string]any {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/system_stats")
	if err != nil {
		t.Fatalf("system_stats: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("system_stats: status %d", resp.StatusCode)
	}
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
