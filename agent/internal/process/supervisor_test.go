package process

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// groupGone reports whether no process of group pgid is left (zombies excluded).
func groupGone(pgid int) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		// f[0] state, f[2] pgrp (field 5)
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			return false
		}
	}
	return true
}

func TestStartReadyLogsStop(t *testing.T) {
	t.Parallel()
	// A base directory with a custom node that fails to import: ComfyUI logs a traceback
	// and keeps going, which exercises level detection on real output.
	base := t.TempDir()
	bad := filepath.Join(base, "custom_nodes", "broken-node")
	if err := os.MkdirAll(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "__init__.py"), []byte("import not_installed_mod\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s, logs := newTestSupervisor(t, rec, testOptions())
	spec := testSpec(t, "demo", map[string]string{"CUDA_VISIBLE_DEVICES": "1"})
	spec.Args = append(spec.Args, "--base-directory", base)

	r, err := s.Start(context.Background(), spec)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if r.PID <= 0 || r.PGID != r.PID || r.StartTime == 0 || r.Port != spec.Port {
		t.Fatalf("record %+v", r)
	}
	if !strings.HasPrefix(filepath.Base(r.LogPath), "run-") || filepath.Dir(r.LogPath) != spec.LogDir {
		t.Fatalf("log path %s", r.LogPath)
	}
	if pids := fakesOnPort(spec.Port); len(pids) != 1 || pids[0] != r.PID {
		t.Errorf("fakesOnPort = %v, want [%d]", pids, r.PID)
	}
	stats := systemStats(t, spec.Port)
	devs, _ := stats["devices"].([]any)
	if len(devs) != 1 || devs[0].(map[string]any)["type"] != "cpu" {
		t.Errorf("devices = %v; want the cpu device of --cpu", stats["devices"])
	}
	if got, ok := s.Get("demo"); !ok || got.PID != r.PID {
		t.Errorf("Get = %+v, %v", got, ok)
	}
	eventually(t, "the GUI line in the logs", func() bool {
		_, ok := rec.logLine("To see the GUI go to: http://127.0.0.1:" + strconv.Itoa(spec.Port))
		return ok
	})

	levels := []struct{ text, level string }{
		{"Total VRAM", LevelInfo},
		{"Traceback (most recent call last)", LevelError},
		{"ModuleNotFoundError: No module named 'not_installed_mod'", LevelError},
		{"Cannot import", LevelError},
		{"(IMPORT FAILED)", LevelError},
		{"Starting server", LevelInfo},
	}
	for _, l := range levels {
		t.Run("level of "+l.text, func(t *testing.T) {
			got, ok := rec.logLine(l.text)
			if !ok {
				t.Fatalf("no log line with %q", l.text)
			}
			if got.Level != l.level {
				t.Errorf("level of %q = %s, want %s", got.Message, got.Level, l.level)
			}
		})
	}

	if err := s.Stop(context.Background(), "demo"); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if !groupGone(r.PGID) {
		t.Errorf("process group %d survived Stop", r.PGID)
	}
	if _, ok := s.Get("demo"); ok {
		t.Error("Get still reports the stopped project")
	}
	if _, _, exits, _ := rec.snapshot(); len(exits) != 0 {
		t.Errorf("a requested stop reported exits: %+v", exits)
	}
	if err := s.Stop(context.Background(), "demo"); err != nil {
		t.Errorf("second stop: %v", err)
	}
	if strings.Contains(logs.String(), "ignored SIGTERM") {
		t.Error("the fake honours SIGTERM, yet the supervisor escalated")
	}
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	s, logs := newTestSupervisor(t, rec, testOptions())
	spec := testSpec(t, "stubborn", map[string]string{"FAKE_COMFYUI_IGNORE_SIGTERM": "1"})
	spec.StopGrace = 300 * time.Millisecond
	r, err := s.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(context.Background(), "stubborn"); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if !groupGone(r.PGID) {
		t.Fatalf("group %d survived", r.PGID)
	}
	if !strings.Contains(logs.String(), "ignored SIGTERM") {
		t.Errorf("no SIGKILL escalation logged:\n%s", logs.String())
	}
}

func TestStartFailureCauses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      map[string]string
		holdPort bool // a foreign listener takes the port: the fake really fails to bind
		// answerPort: the foreign listener answers GET /system_stats with 200, as another
		// ComfyUI would; the supervisor must not take it for ours.
		answerPort bool
		wantType   string
		wantKind   apierr.Kind
		wantCause  string
		wantSugg   string // a suggestion containing this
		wantMsg    string
	}{
		{name: "port held by another listener", holdPort: true, wantType: "PortInUseError", wantKind: apierr.Conflict,
			wantCause: CausePortInUse, wantSugg: "choose another port"},
		{name: "port answered by another server", holdPort: true, answerPort: true, wantType: "PortInUseError", wantKind: apierr.Conflict,
			wantCause: CausePortInUse, wantSugg: "choose another port"},
		{name: "port_in_use", env: map[string]string{"FAKE_COMFYUI_CRASH": "port_in_use"}, wantType: "PortInUseError",
			wantKind: apierr.Conflict, wantCause: CausePortInUse, wantSugg: "choose another port"},
		{name: "cuda_oom", env: map[string]string{"FAKE_COMFYUI_CRASH": "cuda_oom"}, wantType: "ComfyUIStartError",
			wantKind: apierr.Unavailable, wantCause: CauseCUDAOOM, wantSugg: "--lowvram", wantMsg: "CUDA out of memory"},
		{name: "missing_module", env: map[string]string{"FAKE_COMFYUI_CRASH": "missing_module"}, wantType: "ComfyUIStartError",
			wantKind: apierr.Unavailable, wantCause: CauseMissingModule, wantSugg: "python3 -m pip install torchsde", wantMsg: "torchsde"},
		{name: "missing_module with another pip name", env: map[string]string{"FAKE_COMFYUI_CRASH": "missing_module", "FAKE_COMFYUI_MISSING_MODULE": "cv2.dnn"},
			wantType: "ComfyUIStartError", wantKind: apierr.Unavailable, wantCause: CauseMissingModule, wantSugg: "pip install opencv-python"},
		{name: "import_error", env: map[string]string{"FAKE_COMFYUI_CRASH": "import_error"}, wantType: "ComfyUIStartError",
			wantKind: apierr.Unavailable, wantCause: CauseCustomNodeImport, wantSugg: "pip install onnxruntime", wantMsg: "ComfyUI-Broken-Pack"},
		{name: "unknown startup crash", env: map[string]string{"FAKE_COMFYUI_CRASH": "startup"}, wantType: "ComfyUIStartError",
			wantKind: apierr.Unavailable, wantCause: CauseUnknown, wantMsg: "RuntimeError: fake ComfyUI crash"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			s, _ := newTestSupervisor(t, rec, testOptions())
			spec := testSpec(t, "crash", tc.env)
			if tc.holdPort {
				ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(spec.Port))
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				if tc.answerPort {
					go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
						w.Write([]byte(`{"system":{},"devices":[{"name":"cpu"}]}`))
					}))
				}
			}
			_, err := s.Start(context.Background(), spec)
			var e *apierr.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v; want *apierr.Error", err)
			}
			if e.Type != tc.wantType || e.Kind != tc.wantKind || e.Fields["cause"] != tc.wantCause {
				t.Fatalf("got %s kind %d cause %v; want %s kind %d cause %s\n%v", e.Type, e.Kind, e.Fields["cause"], tc.wantType, tc.wantKind, tc.wantCause, e.Fields["last_lines"])
			}
			if tc.wantMsg != "" && !strings.Contains(e.Message, tc.wantMsg) {
				t.Errorf("message %q lacks %q", e.Message, tc.wantMsg)
			}
			if tc.wantSugg != "" && !strings.Contains(strings.Join(e.Suggestions, "\n"), tc.wantSugg) {
				t.Errorf("suggestions %q lack %q", e.Suggestions, tc.wantSugg)
			}
			if _, ok := s.Get("crash"); ok {
				t.Error("failed start still registered")
			}
			// A failed start frees the id for the next attempt.
			if _, err := s.Start(context.Background(), testSpec(t, "crash", nil)); err != nil {
				t.Errorf("start after failure: %v", err)
			}
		})
	}
}

func TestExitAfterReadyIsClassified(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	s, _ := newTestSupervisor(t, rec, testOptions())
	spec := testSpec(t, "oom", map[string]string{"FAKE_COMFYUI_CRASH": "cuda_oom", "FAKE_COMFYUI_CRASH_AFTER": "0.3"})
	if _, err := s.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the exit", func() bool { _, _, exits, _ := rec.snapshot(); return len(exits) == 1 })
	_, _, exits, restarts := rec.snapshot()
	x := exits[0]
	if x.Cause != CauseCUDAOOM || x.ExitCode != 1 || x.WillRestart || x.BreakerOpen || len(x.LastLines) == 0 {
		t.Errorf("exit %+v", x)
	}
	if len(restarts) != 0 {
		t.Errorf("policy never restarted: %v", restarts)
	}
	eventually(t, "the project to be released", func() bool { _, ok := s.Get("oom"); return !ok })
}

func TestRestartOnFailure(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	opts := testOptions()
	opts.BreakerThreshold = 100
	s, _ := newTestSupervisor(t, rec, opts)
	spec := testSpec(t, "flaky", map[string]string{"FAKE_COMFYUI_CRASH": "missing_module", "FAKE_COMFYUI_CRASH_AFTER": "0.4"})
	spec.Restart = RestartOnFailure
	first, err := s.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "a restart to become ready", func() bool { _, ready, _, _ := rec.snapshot(); return len(ready) >= 2 })
	_, ready, exits, restarts := rec.snapshot()
	if ready[1].PID == first.PID || ready[1].LogPath == first.LogPath {
		t.Errorf("restart reused pid %d or log %s", first.PID, first.LogPath)
	}
	if len(exits) == 0 || !exits[0].WillRestart || exits[0].Cause != CauseMissingModule {
		t.Errorf("first exit %+v", exits)
	}
	if len(restarts) == 0 || restarts[0] != 1 {
		t.Errorf("restarts %v", restarts)
	}
	if err := s.Stop(context.Background(), "flaky"); err != nil {
		t.Fatal(err)
	}
	n := len(exits)
	_, _, exits, _ = rec.snapshot()
	for _, x := range exits[n:] {
		if x.WillRestart {
			t.Errorf("restart scheduled after Stop: %+v", x)
		}
	}
}

func TestCrashLoopOpensBreaker(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	opts := testOptions()
	opts.BreakerThreshold = 3
	opts.BreakerWindow = time.Hour
	s, _ := newTestSupervisor(t, rec, opts)
	spec := testSpec(t, "loop", map[string]string{"FAKE_COMFYUI_CRASH": "cuda_oom", "FAKE_COMFYUI_CRASH_AFTER": "0.4"})
	spec.Restart = RestartAlways
	if _, err := s.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the breaker", func() bool {
		_, _, exits, _ := rec.snapshot()
		return len(exits) > 0 && !exits[len(exits)-1].WillRestart
	})
	_, _, exits, restarts := rec.snapshot()
	last := exits[len(exits)-1]
	if len(exits) != 3 || !last.BreakerOpen || !strings.Contains(last.BreakerReason, CauseCUDAOOM) || !strings.Contains(last.BreakerReason, "3 times") {
		t.Fatalf("%d exits, last %+v", len(exits), last)
	}
	if len(restarts) != 2 || restarts[1] != 2 {
		t.Errorf("restarts %v; want attempts 1, 2", restarts)
	}
	eventually(t, "the project to be released", func() bool { _, ok := s.Get("loop"); return !ok })
}

func TestAdoptAfterAgentRestart(t *testing.T) {
	t.Parallel()
	recA := &recorder{}
	a, _ := newTestSupervisor(t, recA, testOptions())
	spec := testSpec(t, "survivor", nil)
	spec.Args = append(spec.Args, "--verbose") // the fake logs each request: lines for B to tail
	r, err := a.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "A to tail the GUI line", func() bool { _, ok := recA.logLine("To see the GUI"); return ok })
	r, _ = a.Get("survivor")
	a.Detach()
	if !alive(r.PID, r.StartTime) {
		t.Fatal("Detach killed the process")
	}

	recB := &recorder{}
	b, _ := newTestSupervisor(t, recB, testOptions())
	tests := []struct {
		name   string
		mutate func(Record) Record
	}{
		{"wrong start time", func(x Record) Record { x.StartTime++; return x }},
		{"dead pid", func(x Record) Record { x.PID = deadPID(t); return x }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := b.Adopt(context.Background(), spec, tc.mutate(r))
			if apierr.KindOf(err) != apierr.NotFound {
				t.Fatalf("err = %v; want ProcessGoneError", err)
			}
			if !alive(r.PID, r.StartTime) {
				t.Fatal("a refused adoption touched the real process")
			}
		})
	}
	if err := b.Adopt(context.Background(), spec, r); err != nil {
		t.Fatalf("adopt: %v", err)
	}
	if got, ok := b.Get("survivor"); !ok || got.PID != r.PID {
		t.Fatalf("Get after adopt = %+v, %v", got, ok)
	}
	if err := b.Adopt(context.Background(), spec, r); apierr.KindOf(err) != apierr.Conflict {
		t.Errorf("second adopt: %v; want Conflict", err)
	}
	systemStats(t, r.Port)
	eventually(t, "B to tail new lines", func() bool { _, ok := recB.logLine("/system_stats"); return ok })
	if _, ok := recB.logLine("To see the GUI"); ok {
		t.Error("B re-read lines before the recorded offset")
	}
	if err := b.Stop(context.Background(), "survivor"); err != nil {
		t.Fatalf("stop adopted: %v", err)
	}
	if !groupGone(r.PGID) {
		t.Fatal("adopted group survived Stop")
	}
	if err := b.Adopt(context.Background(), spec, r); apierr.KindOf(err) != apierr.NotFound {
		t.Errorf("adopt of a stopped process: %v; want ProcessGoneError", err)
	}
}

func TestAdoptedProcessDeathAppliesPolicy(t *testing.T) {
	t.Parallel()
	a, _ := newTestSupervisor(t, &recorder{}, testOptions())
	spec := testSpec(t, "victim", nil)
	r, err := a.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	a.Detach()
	rec := &recorder{}
	b, _ := newTestSupervisor(t, rec, testOptions())
	spec.Restart = RestartOnFailure
	if err := b.Adopt(context.Background(), spec, r); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(r.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the restart", func() bool { _, ready, _, _ := rec.snapshot(); return len(ready) == 1 })
	_, ready, exits, _ := rec.snapshot()
	if len(exits) != 1 || exits[0].ExitCode != -1 || !exits[0].WillRestart {
		t.Errorf("exits %+v", exits)
	}
	if ready[0].PID == r.PID {
		t.Error("restart kept the dead pid")
	}
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	cmd := osexec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestSpecValidation(t *testing.T) {
	t.Parallel()
	s, _ := newTestSupervisor(t, &recorder{}, testOptions())
	tests := []struct {
		name     string
		mutate   func(*Spec)
		wantType string
	}{
		{"listen in args", func(sp *Spec) { sp.Args = []string{"--listen", "0.0.0.0"} }, "InvalidLaunchArgsError"},
		{"port= in args", func(sp *Spec) { sp.Args = []string{"--port=1"} }, "InvalidLaunchArgsError"},
		{"bad policy", func(sp *Spec) { sp.Restart = "sometimes" }, "InvalidRestartPolicyError"},
		{"no checkout", func(sp *Spec) { sp.Dir = t.TempDir() }, "ComfyUIMissingError"},
		{"no port", func(sp *Spec) { sp.Port = 0 }, "InvalidPortError"},
		{"no python", func(sp *Spec) { sp.Python = "" }, "InvalidSpecError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec(t, "v", nil)
			tc.mutate(&spec)
			_, err := s.Start(context.Background(), spec)
			var e *apierr.Error
			if !errors.As(err, &e) || e.Type != tc.wantType || e.Kind != apierr.Invalid {
				t.Fatalf("err = %v; want Invalid %s", err, tc.wantType)
			}
		})
	}
	t.Run("missing interpreter", func(t *testing.T) {
		spec := testSpec(t, "v", nil)
		spec.Python = filepath.Join(t.TempDir(), "venv", "bin", "python")
		_, err := s.Start(context.Background(), spec)
		var e *apierr.Error
		if !errors.As(err, &e) || e.Type != "ComfyUIStartError" || len(e.Suggestions) == 0 {
			t.Fatalf("err = %v", err)
		}
	})
}
