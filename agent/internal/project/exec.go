package project

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// CmdError is a failed subprocess: the command, its exit and its last lines of output, which
// usually hold the reason (pip's "No matching distribution", git's "fatal: ...").
type CmdError struct {
	// Cmd is the command line, Err the exit, LastLines the output's tail.
	Cmd       string
	Err       error
	LastLines []string
}

// Error names the command, the exit and the last output line.
func (e *CmdError) Error() string {
	msg := fmt.Sprintf("%s: %v", e.Cmd, e.Err)
	if n := len(e.LastLines); n > 0 {
		msg += ": " + e.LastLines[n-1]
	}
	return msg
}

// Unwrap returns the exit error.
func (e *CmdError) Unwrap() error { return e.Err }

const keepLines = 20

// runCmd runs name args in dir and logs every output line to the project's logs. It runs in
// its own process group so that cancelling ctx kills pip's and git's children too.
func (m *Manager) runCmd(ctx context.Context, projectID, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_TERMINAL_PROMPT=0",
		"PIP_DISABLE_PIP_VERSION_CHECK=1",
		"PIP_NO_INPUT=1",
		"PYTHONUNBUFFERED=1",
	)
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	line := shortCmd(name, args)
	m.logs.Add(projectID, LevelInfo, "$ "+line, nil)

	var last []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			// pip progress bars use carriage returns; keep the last state of the line.
			text := sc.Text()
			if i := strings.LastIndexByte(text, '\r'); i >= 0 {
				text = text[i+1:]
			}
			text = strings.TrimRight(text, " \t")
			if text == "" {
				continue
			}
			m.logs.Add(projectID, "", text, nil)
			last = append(last, text)
			if len(last) > keepLines {
				last = last[1:]
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Start()
	if err == nil {
		err = cmd.Wait()
	}
	pw.Close()
	wg.Wait()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ee *exec.Error
		if errors.As(err, &ee) {
			return &CmdError{Cmd: line, Err: fmt.Errorf("%s not found: %w", name, err)}
		}
		return &CmdError{Cmd: line, Err: err, LastLines: last}
	}
	return nil
}

// shortCmd renders a command for logs and errors.
func shortCmd(name string, args []string) string {
	parts := append([]string{name}, args...)
	for i, p := range parts {
		if strings.ContainsAny(p, " \t") {
			parts[i] = fmt.Sprintf("%q", p)
		}
	}
	return strings.Join(parts, " ")
}

// gitOutput runs a git command and returns its trimmed stdout (not logged: used for probes).
func gitOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}
