package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/config/configtest"
)

var launcherBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "launcher-bin-")
	if err != nil {
		panic(err)
	}
	launcherBin = filepath.Join(dir, "launcher")
	if out, err := exec.Command("go", "build", "-o", launcherBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build launcher: %v\n%s", err, out)
		os.Exit(1)
	}
	code := configtest.Run(m) // the agent binary inherits the tripwire
	os.RemoveAll(dir)
	os.Exit(code)
}

// agentProc is a running `launcher serve`.
type agentProc struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
}

func writeTestConfig(t *testing.T, dataDir string, keys ...string) string {
	t.Helper()
	return writeConfig(t, fmt.Sprintf("[paths]\ndata_dir = %q\n[gpu]\nprovider = \"none\"\n", dataDir),
		append([]string{`server.listen = "127.0.0.1:0"`}, keys...)...)
}

// writeConfig writes a launcher.toml of text and configtest's loopback URLs (with keys, as
// configtest.TOML takes them) and fails the test if any URL the agent would fetch leaves
// loopback. text defines no table that keys name.
func writeConfig(t *testing.T, text string, keys ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "launcher.toml")
	if err := os.WriteFile(p, []byte(text+configtest.TOML(keys...)), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	configtest.Require(t, c)
	return p
}

// startAgent runs the binary and waits for its "serving on" line.
func startAgent(t *testing.T, args ...string) *agentProc {
	t.Helper()
	cmd := exec.Command(launcherBin, args...)
	stdout, _ := cmd.StdoutPipe()
	p := &agentProc{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, url, ok := strings.Cut(sc.Text(), "serving on "); ok {
				lines <- url
			}
		}
		close(lines)
	}()
	select {
	case url, ok := <-lines:
		if !ok {
			t.Fatalf("agent exited before serving: %s", p.stderr)
		}
		p.url = url
	case <-time.After(60 * time.Second):
		t.Fatalf("agent did not start: %s", p.stderr)
	}
	return p
}

func TestServeHealthSecondInstanceAndGracefulStop(t *testing.T) {
	dataDir := t.TempDir()
	cfg := writeTestConfig(t, dataDir)
	a := startAgent(t, "serve", "--config", cfg)

	resp, err := http.Get(a.url + "/api/health")
	if err != nil {
		t.Fatal(err)
	}
	var health struct {
		Status     string                    `json:"status"`
		Version    string                    `json:"version"`
		Components map[string]map[string]any `json:"components"`
	}
	json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if health.Version == "" || health.Components["store"]["ok"] != true {
		t.Fatalf("health: %+v", health)
	}

	t.Run("second agent on the same data dir is refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, launcherBin, "serve", "--config", cfg).CombinedOutput()
		var ee *exec.ExitError
		if err == nil || !errorsAs(err, &ee) || ee.ExitCode() == 0 {
			t.Fatalf("second agent: err=%v, want non-zero exit; output %s", err, out)
		}
		want := "another agent is already running on " + dataDir
		if !strings.Contains(string(out), want) {
			t.Fatalf("output %q does not contain %q", out, want)
		}
	})

	t.Run("SIGTERM stops cleanly and the store reopens", func(t *testing.T) {
		if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- a.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("exit after SIGTERM: %v; stderr %s", err, a.stderr)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("agent did not stop after SIGTERM")
		}
		if !strings.Contains(a.stderr.String(), "stopped") {
			t.Fatalf("no clean shutdown in log: %s", a.stderr)
		}
		b := startAgent(t, "serve", "--config", cfg)
		b.cmd.Process.Signal(syscall.SIGTERM)
	})
}

func TestGeneratedTokenOnPublicAddress(t *testing.T) {
	dataDir := t.TempDir()
	cfg := writeTestConfig(t, dataDir, `server.listen = "0.0.0.0:0"`)
	a := startAgent(t, "serve", "--config", cfg)
	tokenFile := filepath.Join(dataDir, "api-token")
	info, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatalf("token file: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", info.Mode().Perm())
	}
	if !strings.Contains(a.stderr.String(), tokenFile) {
		t.Fatalf("agent did not print where the token is: %s", a.stderr)
	}
	tok, _ := os.ReadFile(tokenFile)
	url := strings.Replace(a.url, "0.0.0.0", "127.0.0.1", 1) + "/api/projects"
	for _, tc := range []struct {
		name  string
		auth  string
		wantS int
	}{{"without token", "", 401}, {"with token", "Bearer " + strings.TrimSpace(string(tok)), 0}} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", url, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if tc.wantS != 0 && resp.StatusCode != tc.wantS {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantS)
			}
			if tc.wantS == 0 && resp.StatusCode == 401 {
				t.Fatal("valid token rejected")
			}
		})
	}
}

func TestCLIErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"unknown command", []string{"frobnicate"}, 1, `unknown command "frobnicate"`},
		{"serve help", []string{"serve", "--help"}, 0, "Usage: launcher serve"},
		{"doctor help", []string{"doctor", "--help"}, 0, "Usage: launcher doctor"},
		{"version", []string{"version"}, 0, "launcher "},
		{"bad config", []string{"serve", "--config", "/nonexistent/launcher.toml"}, 1, "read config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(launcherBin, tc.args...).CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errorsAs(err, &ee) {
				code = ee.ExitCode()
			}
			if code != tc.wantCode || !strings.Contains(string(out), tc.want) {
				t.Fatalf("exit %d output %q; want exit %d containing %q", code, out, tc.wantCode, tc.want)
			}
		})
	}
}

// TestDoctor runs the binary. Tools get --timeout 10m, so a loaded machine cannot fail a
// check by being slow, and the listen address is an ephemeral port, free by construction.
func TestDoctor(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	write := func(keys ...string) string {
		return writeConfig(t, fmt.Sprintf("[paths]\ndata_dir = %q\n[gpu]\nprovider = \"none\"\nnvidia_smi = \"nvidia-smi-missing-for-test\"\n", dataDir), keys...)
	}
	hang := filepath.Join(t.TempDir(), "python-that-hangs")
	os.WriteFile(hang, []byte("#!/bin/sh\nexec sleep 600\n"), 0o755)
	tests := []struct {
		name     string
		config   string
		timeout  string
		wantCode int
		want     []string
	}{
		{"healthy machine", write(`server.listen = "127.0.0.1:0"`), "10m", 0,
			[]string{"OK    config", "OK    git", "OK    python", "OK    listen", "WARN  nvidia-smi", "no NVIDIA GPU tools", "all checks passed"}},
		{"a hung tool fails its check with the fix", write(fmt.Sprintf("comfyui.python = %q", hang)), "200ms", 1,
			[]string{"FAIL  python", "did not finish in 200ms", "--timeout"}},
		{"missing python names the fix", write(`comfyui.python = "python-missing-for-test"`), "10m", 1,
			[]string{"FAIL  python", "fix: install Python 3.10+ or set comfyui.python"}},
		{"broken config names the key", write("ports.min = 5000", "ports.max = 4000"), "10m", 1,
			[]string{"FAIL  config", "swap them"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(launcherBin, "doctor", "--config", tc.config, "--timeout", tc.timeout).CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errorsAs(err, &ee) {
				code = ee.ExitCode()
			}
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s", code, tc.wantCode, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestDoctorBusyPorts: a held address is reported, deterministically, because the test holds it.
func TestDoctorBusyPorts(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	port := ln.Addr().(*net.TCPAddr).Port
	if c := listenCheck(addr); c.status != "warn" || !strings.Contains(c.detail, "in use") || c.fix == "" {
		t.Errorf("listen on a held address: %+v", c)
	}
	if c := portRangeCheck(port, port); c.status != "fail" || !strings.Contains(c.fix, "choose another range") {
		t.Errorf("a range whose only port is held: %+v", c)
	}
}
