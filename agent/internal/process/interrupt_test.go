package process

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// TestStartGivesUp covers the ways a start ends without the server answering: the ready
// timeout, a cancelled context and a concurrent Stop. Each must kill the process group.
func TestStartGivesUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		timeout   time.Duration
		interrupt func(cancel context.CancelFunc, s *Supervisor)
		wantCause string
		wantKind  apierr.Kind
	}{
		{name: "ready timeout", timeout: 300 * time.Millisecond, wantCause: "ready_timeout", wantKind: apierr.Unavailable},
		{name: "context cancelled", timeout: time.Minute, interrupt: func(c context.CancelFunc, _ *Supervisor) { c() }, wantKind: apierr.Unavailable},
		{name: "stop while starting", timeout: time.Minute, wantKind: apierr.Conflict,
			interrupt: func(_ context.CancelFunc, s *Supervisor) {
				if err := s.Stop(context.Background(), "slow"); err != nil {
					t.Errorf("stop: %v", err)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			s, _ := newTestSupervisor(t, rec, testOptions())
			spec := testSpec(t, "slow", map[string]string{"FAKE_COMFYUI_DELAY": "30"})
			spec.ReadyTimeout = tc.timeout
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.interrupt != nil {
				// Interrupt once the process runs and has logged its first lines.
				go func() {
					eventually(t, "first log line", func() bool { _, ok := rec.logLine("Total VRAM"); return ok })
					tc.interrupt(cancel, s)
				}()
			}
			_, err := s.Start(ctx, spec)
			var e *apierr.Error
			if !errors.As(err, &e) || e.Kind != tc.wantKind {
				t.Fatalf("err = %v; want kind %d", err, tc.wantKind)
			}
			if tc.wantCause != "" && e.Fields["cause"] != tc.wantCause {
				t.Errorf("cause %v, want %s", e.Fields["cause"], tc.wantCause)
			}
			if pids := fakesOnPort(spec.Port); len(pids) > 0 {
				t.Errorf("fake on port %d still running: pids %v", spec.Port, pids)
			}
			if _, ok := s.Get("slow"); ok {
				t.Error("project still registered")
			}
			if lp, _ := e.Fields["log_path"].(string); tc.wantCause != "" && lp == "" {
				t.Error("no log_path in the error")
			}
		})
	}
}

// fakesOnPort lists live (non-zombie) processes whose command line has --port port.
func fakesOnPort(port int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(cmd), "\x00--port\x00"+strconv.Itoa(port)+"\x00") {
			continue
		}
		if st, err := readProcStat(pid); err == nil && st.State != 'Z' {
			out = append(out, pid)
		}
	}
	return out
}

// TestHooksMayCallGet guards against a lock-order deadlock: OnLog runs on the tail goroutine
// while Get reads the tail's offset.
func TestHooksMayCallGet(t *testing.T) {
	t.Parallel()
	var s *Supervisor
	got := make(chan Record, 100)
	s = New(nil, Hooks{
		OnLog: func(id string, _ LogLine) {
			if r, ok := s.Get(id); ok {
				select {
				case got <- r:
				default:
				}
			}
		},
	}, testOptions())
	spec := testSpec(t, "hooks", map[string]string{"FAKE_COMFYUI_CRASH": "startup", "FAKE_COMFYUI_CRASH_AFTER": "0.3"})
	spec.Args = append(spec.Args, "--verbose")
	if _, err := s.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	systemStats(t, spec.Port) // a request log line while the process is ready
	eventually(t, "a Get from inside OnLog", func() bool { return len(got) > 0 })
	eventually(t, "the crash to end supervision", func() bool { _, ok := s.Get("hooks"); return !ok })
}
