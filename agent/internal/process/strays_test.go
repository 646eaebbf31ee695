package process

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
)

// TestStartEndsAnUntrackedServerOfTheProject: a ComfyUI of the project that no supervisor
// tracks (its agent was killed before recording it) is killed when the project starts, so
// only one runs; a server of another project in the same checkout is left alone.
func TestStartEndsAnUntrackedServerOfTheProject(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "strays", nil)
	spec.ExtraModelPaths = filepath.Join(t.TempDir(), "extra_model_paths.yaml")
	other := filepath.Join(t.TempDir(), "extra_model_paths.yaml")
	for _, p := range []string{spec.ExtraModelPaths, other} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	orphan := func(emp string) *exec.Cmd {
		port := projecttest.FreePort(t)
		cmd := exec.Command("python3", "main.py", "--listen", "127.0.0.1", "--port", strconv.Itoa(port),
			"--extra-model-paths-config", emp, "--cpu")
		cmd.Dir = spec.Dir
		cmd.Env = append(os.Environ(), "FAKE_COMFYUI_DELAY=0.1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
		// A stray is a server that already runs: wait until it listens, so its command line is
		// ComfyUI's and not that of a launcher script (a pyenv shim) still exec'ing into python.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the orphan ComfyUI never listened on %d", port)
			}
		}
		return cmd
	}
	mine, theirs := orphan(spec.ExtraModelPaths), orphan(other)
	exited := make(chan struct{})
	go func() { mine.Wait(); close(exited) }()

	s, logs := newTestSupervisor(t, &recorder{}, testOptions())
	rec, err := s.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited: // reaped by us, its parent: it was killed
	case <-time.After(time.Minute):
		t.Fatalf("the untracked server of the project still runs after Start:\n%s", logs.String())
	}
	if rec.PID == mine.Process.Pid {
		t.Fatal("the orphan was adopted instead of replaced")
	}
	if err := syscall.Kill(theirs.Process.Pid, 0); err != nil {
		t.Fatalf("the other project's server was killed: %v", err)
	}
	if !strings.Contains(logs.String(), "no agent tracked") {
		t.Fatalf("no warning logged:\n%s", logs.String())
	}
}
