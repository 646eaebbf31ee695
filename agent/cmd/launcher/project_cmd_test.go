package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cliRun runs the CLI in-process and returns stdout, stderr and the exit status main would use.
func cliRun(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, args, &out, &errOut)
	code = 0
	if err != nil && !errors.Is(err, flag.ErrHelp) { // main exits 0 on ErrHelp
		code = 1
		var ec exitCoder
		if errorsAs(err, &ec) {
			code = ec.ExitCode()
		}
		errOut.WriteString("error: " + err.Error() + "\n")
	}
	return out.String(), errOut.String(), code
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// TestProjectLifeThroughCLI runs the agent binary with auth on, systemd's notify socket and a
// fake ComfyUI, and drives one project through its whole life with the CLI: create (install
// to ready, with progress) -> ls -> start -> logs -> stop -> rm, with the token from each of
// its three sources and the documented exit codes.
func TestProjectLifeThroughCLI(t *testing.T) {
	for _, tool := range []string{"git", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: needed to install projects", tool)
		}
	}
	tmp := t.TempDir()
	fixtures := filepath.Join(tmp, "fixtures")
	if out, err := exec.Command(filepath.Join(repoRoot(), "scripts", "make-fixtures.sh"), fixtures).CombinedOutput(); err != nil {
		t.Fatalf("make fixtures: %v\n%s", err, out)
	}
	dataDir := filepath.Join(tmp, "data")
	tokenFile := filepath.Join(tmp, "secrets", "token")
	cfg := writeTestConfig(t, dataDir, fmt.Sprintf("server.token_file = %q", tokenFile),
		fmt.Sprintf("comfyui.repo = %q", filepath.Join(fixtures, "ComfyUI.git")), `comfyui.ready_timeout = "60s"`)

	// systemd's side of Type=notify.
	notifyPath := filepath.Join(tmp, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	t.Setenv("NOTIFY_SOCKET", notifyPath)
	t.Setenv("FAKE_COMFYUI_DELAY", "0.1")
	t.Setenv("LAUNCHER_TOKEN", "")
	t.Setenv("LAUNCHER_CONFIG", "")

	agent := startAgent(t, "serve", "--config", cfg)
	buf := make([]byte, 256)
	notify.SetReadDeadline(time.Now().Add(60 * time.Second))
	n, err := notify.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("systemd got %q, %v; want READY=1 once the agent is ready\n%s", buf[:n], err, agent.stderr)
	}
	get := func(path, token string) int {
		req, _ := http.NewRequest("GET", agent.url+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if get("/readyz", "") != 200 || get("/livez", "") != 200 {
		t.Fatal("probes are not 200 without a token once READY=1 was sent")
	}
	raw, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(raw))
	if get("/metrics", "") != 401 || get("/metrics", token) != 200 {
		t.Fatal("/metrics must follow the API's auth rule")
	}

	a := "--agent=" + agent.url
	// The token from the agent's config (its token file).
	out, errOut, code := cliRun(t, "project", "create", a, "--config", cfg, "--interval", "50ms", "My Life")
	if code != 0 {
		t.Fatalf("create: exit %d\n%s%s\n%s", code, out, errOut, agent.stderr)
	}
	m := regexp.MustCompile(`project (\S+) is ready`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("create did not report the installed project: %q", out)
	}
	id := m[1]
	// Not a terminal: progress comes as plain lines, no carriage returns.
	if !strings.Contains(errOut, "%") || strings.Contains(errOut, "\r") {
		t.Fatalf("install progress on a pipe should be plain lines:\n%q", errOut)
	}
	t.Cleanup(func() { cliRun(t, "project", "rm", a, "--token", token, id) })

	// --token.
	out, _, code = cliRun(t, "project", "ls", a, "--token", token, "--json")
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0]["id"] != id {
		t.Fatalf("ls --json: exit %d %q", code, out)
	}
	out, _, _ = cliRun(t, "project", "ls", a, "--token", token)
	if !strings.Contains(out, id) || !strings.Contains(out, "ready") {
		t.Fatalf("ls table lacks the project: %q", out)
	}

	// $LAUNCHER_TOKEN.
	t.Setenv("LAUNCHER_TOKEN", token)
	out, errOut, code = cliRun(t, "project", "start", a, "--interval", "50ms", id)
	if code != 0 || !regexp.MustCompile(`is running on port \d+`).MatchString(out) {
		t.Fatalf("start: exit %d %q %s", code, out, errOut)
	}
	out, errOut, code = cliRun(t, "project", "logs", a, id)
	if code != 0 || !strings.Contains(out, "info") || strings.Count(out, "\n") < 3 {
		t.Fatalf("logs: exit %d %q %s", code, out, errOut)
	}
	out, _, code = cliRun(t, "project", "logs", a, "--json", id)
	var entry map[string]any
	if first, _, _ := strings.Cut(out, "\n"); code != 0 || json.Unmarshal([]byte(first), &entry) != nil || entry["message"] == nil {
		t.Fatalf("logs --json: exit %d %q", code, out)
	}
	out, _, code = cliRun(t, "ops", "ls", a, "--function", "install_project")
	if code != 0 || !strings.Contains(out, "install_project") || !strings.Contains(out, "success") {
		t.Fatalf("ops ls: exit %d %q", code, out)
	}
	opID := regexp.MustCompile(`op_\w+`).FindString(out)
	out, _, code = cliRun(t, "ops", "show", a, opID)
	if code != 0 || !strings.Contains(out, "step") {
		t.Fatalf("ops show: exit %d %q", code, out)
	}
	if _, errOut, code := cliRun(t, "ops", "cancel", a, opID); code != exitConflict {
		t.Fatalf("cancelling a finished operation: exit %d, want %d (conflict)\n%s", code, exitConflict, errOut)
	}

	// logs -f prints what exists, then what a restart adds, until cancelled.
	before := strings.Count(func() string { o, _, _ := cliRun(t, "project", "logs", a, id); return o }(), "\n")
	follow := &lockedBuffer{}
	fctx, stopFollow := context.WithCancel(context.Background())
	followed := make(chan error, 1)
	go func() {
		followed <- run(fctx, []string{"project", "logs", "-f", "--interval", "50ms", a, id}, follow, io.Discard)
	}()
	out, errOut, code = cliRun(t, "project", "restart", a, "--interval", "50ms", id)
	if code != 0 || !strings.Contains(out, "is running on port") {
		t.Fatalf("restart: exit %d %q %s", code, out, errOut)
	}
	for deadline := time.Now().Add(30 * time.Second); strings.Count(follow.String(), "\n") <= before; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("logs -f printed no new entry after a restart (%d lines before):\n%s", before, follow.String())
		}
	}
	stopFollow()
	if err := <-followed; err != nil {
		t.Fatalf("logs -f ended with %v after Ctrl-C", err)
	}

	out, errOut, code = cliRun(t, "project", "stop", a, id)
	if code != 0 || !strings.Contains(out, "ready") {
		t.Fatalf("stop: exit %d %q %s", code, out, errOut)
	}
	out, errOut, code = cliRun(t, "project", "rm", a, id)
	if code != 0 || !strings.Contains(out, "deleted") {
		t.Fatalf("rm: exit %d %q %s", code, out, errOut)
	}

	// Exit codes a script can rely on.
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"gone project", []string{"project", "start", a, id}, exitNotFound},
		{"wrong token", []string{"project", "ls", a, "--token", "wrong-token-0123456789"}, exitAuth},
		{"no agent", []string{"project", "ls", "--agent", "http://127.0.0.1:1"}, exitUnreachable},
		{"bad usage", []string{"project", "start", a}, exitUsage},
		{"unknown flag", []string{"ops", "ls", a, "--bogus"}, exitUsage},
		{"unknown operation", []string{"ops", "show", a, "op_nope"}, exitNotFound},
		{"import of a missing file", []string{"project", "import", a, filepath.Join(tmp, "nope.json")}, exitUsage},
		{"import of a file that is not JSON", []string{"project", "import", a, cfg}, exitUsage},
	} {
		if _, errOut, code := cliRun(t, tc.args...); code != tc.want {
			t.Errorf("%s: exit %d, want %d\n%s", tc.name, code, tc.want, errOut)
		}
	}

	// import FILE: a launcher JSON becomes a project (detached: the install is create's).
	lj := filepath.Join(tmp, "imported.json")
	os.WriteFile(lj, []byte(`{"format":"comfyui_launcher","version":"1.0","workflow_json":{"nodes":[]},
"snapshot_json":{"comfyui":null,"git_custom_nodes":{}},"files":[],"pip_requirements":[]}`), 0o644)
	out, errOut, code = cliRun(t, "project", "import", a, "--detach", "--json", lj)
	var imported struct{ ID string }
	if code != 0 || json.Unmarshal([]byte(out), &imported) != nil || imported.ID != "imported" {
		t.Fatalf("import: exit %d %q %s", code, out, errOut)
	}
	if out, _, _ := cliRun(t, "project", "ls", a); !strings.Contains(out, "imported") {
		t.Fatalf("the imported project is not listed: %q", out)
	}
	if _, errOut, code := cliRun(t, "project", "rm", a, "imported"); code != 0 {
		t.Fatalf("rm imported: exit %d %s", code, errOut)
	}

	// systemd learns that the agent stops.
	agent.cmd.Process.Signal(syscall.SIGTERM)
	notify.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := notify.Read(buf); err != nil || string(buf[:n]) != "STOPPING=1" {
		t.Fatalf("systemd got %q, %v at shutdown; want STOPPING=1", buf[:n], err)
	}
}

// lockedBuffer is an io.Writer safe for a writing goroutine and a reading test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestUsageOrderAndHelpOnce: the command list is in a fixed order, and every --help prints
// its usage exactly once, to stdout, with exit status 0.
func TestUsageOrderAndHelpOnce(t *testing.T) {
	first, _, _ := cliRun(t, "--help")
	for range 5 {
		if again, _, _ := cliRun(t, "--help"); again != first {
			t.Fatalf("usage changes between runs:\n%s\n---\n%s", first, again)
		}
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  launcher (\w+) \.\.\.`).FindAllStringSubmatch(first, -1) {
		names = append(names, m[1])
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] > names[i] {
			t.Fatalf("commands not in order: %v", names)
		}
	}
	for _, args := range [][]string{
		{"serve", "--help"}, {"doctor", "--help"}, {"model", "--help"}, {"model", "ls", "--help"},
		{"model", "pull", "--help"}, {"workflow", "--help"}, {"workflow", "inspect", "--help"},
		{"project", "--help"}, {"project", "ls", "--help"}, {"project", "create", "--help"},
		{"project", "import", "--help"}, {"project", "start", "--help"}, {"project", "logs", "--help"},
		{"project", "rm", "--help"}, {"ops", "--help"}, {"ops", "ls", "--help"}, {"ops", "retry", "--help"},
	} {
		out, errOut, code := cliRun(t, args...)
		if strings.HasPrefix(args[0], "serve") || args[0] == "doctor" {
			out += errOut // flag's own help for serve and doctor goes to stderr
			errOut = ""
		}
		if code != 0 || strings.Count(out, "Usage:") != 1 || errOut != "" {
			t.Errorf("%v: exit %d, %d usages on stdout, stderr %q", args, code, strings.Count(out, "Usage:"), errOut)
		}
	}
}
