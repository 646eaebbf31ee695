package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/extension/plugintest"
)

var (
	pluginsOnce sync.Once
	pluginBins  map[string]string
	pluginsErr  error
)

// testPlugins builds the plugin host's test plugin once per test binary.
func testPlugins(t *testing.T) map[string]string {
	t.Helper()
	pluginsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "launcher-plugins-")
		if err != nil {
			pluginsErr = err
			return
		}
		pluginBins, pluginsErr = plugintest.Build(dir, "agent/internal/extension/pluginhost/testdata/testplugin")
		if pluginsErr == nil {
			// Run under this name the test plugin is another application's plugin.
			pluginBins["wrongcookie"] = filepath.Join(dir, "wrongcookie")
			pluginsErr = os.Link(pluginBins["testplugin"], pluginBins["wrongcookie"])
		}
	})
	if pluginsErr != nil {
		t.Fatal(pluginsErr)
	}
	return pluginBins
}

// childrenRunning lists the live (not zombie) processes whose executable is exe.
func childrenRunning(t *testing.T, exe string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if link, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err != nil || link != exe {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && strings.HasPrefix(string(stat[i+1:]), " Z") {
			continue
		}
		out = append(out, pid)
	}
	return out
}

// waitNoProcess waits until no live process runs exe.
func waitNoProcess(t *testing.T, exe, after string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if len(childrenRunning(t, exe)) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("plugin processes %v still run after %s", childrenRunning(t, exe), after)
}

// TestAgentTakesItsPluginsAlong: neither a clean stop nor a kill -9 of the real agent binary
// leaves a plugin process behind.
func TestAgentTakesItsPluginsAlong(t *testing.T) {
	if _, err := os.Stat("/proc/self/exe"); err != nil {
		t.Fatalf("this test reads /proc: %v", err)
	}
	bin := testPlugins(t)["testplugin"]
	for _, how := range []string{"SIGTERM", "SIGKILL"} {
		t.Run(how, func(t *testing.T) {
			// Each run has its own copy, so the processes counted are this run's.
			b, err := os.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			exe := filepath.Join(t.TempDir(), "testplugin")
			if err := os.WriteFile(exe, b, 0o755); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			dataDir := t.TempDir()
			cfg := writeTestConfig(t, dataDir)
			f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(f, "\n[[extensions]]\nname = \"test\"\npath = %q\nsha256 = %q\n", exe, hex.EncodeToString(sum[:]))
			f.Close()

			a := startAgent(t, "serve", "--config", cfg)
			pids := childrenRunning(t, exe)
			if len(pids) != 1 {
				t.Fatalf("plugin processes = %v, want one; agent stderr: %s", pids, a.stderr)
			}
			sig := syscall.SIGTERM
			if how == "SIGKILL" {
				sig = syscall.SIGKILL
			}
			if err := a.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			_ = a.cmd.Wait()
			waitNoProcess(t, exe, "the agent got "+how)
		})
	}
}
