package project

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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

// shell runs the install's subprocesses (git, python, pip) with their output in the
// project's logs.
type shell struct{ logs *logBook }

// run runs name args in dir and logs every output line to the project's logs. It runs in
// its own process group so that cancelling ctx kills pip's and git's children too.
func (sh shell) run(ctx context.Context, projectID, dir string, env []string, name string, args ...string) error {
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
	sh.logs.Add(projectID, LevelInfo, "$ "+line, nil)

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
			sh.logs.Add(projectID, "", text, nil)
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

// clone makes dir a checkout of repo at ref. A leftover folder that is not a clone of repo
// (an interrupted clone) is removed first; clones go to a temporary folder renamed into place
// so a half-cloned tree is never mistaken for a complete one.
func (sh shell) clone(ctx context.Context, id, repo, ref, dir string, recursive bool) error {
	if isGitRepo(ctx, dir) {
		origin, _ := gitOutput(ctx, dir, "config", "--get", "remote.origin.url")
		if origin != repo {
			sh.logs.Add(id, LevelWarning, fmt.Sprintf("%s is a clone of %q, not %q: cloning again", filepath.Base(dir), origin, repo), nil)
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
		}
	} else if _, err := os.Stat(dir); err == nil {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if !isGitRepo(ctx, dir) {
		tmp := dir + ".partial"
		if err := os.RemoveAll(tmp); err != nil {
			return err
		}
		args := []string{"clone"}
		if recursive {
			args = append(args, "--recursive")
		}
		args = append(args, "--", repo, tmp)
		if err := sh.run(ctx, id, filepath.Dir(dir), nil, "git", args...); err != nil {
			return err
		}
		if err := os.Rename(tmp, dir); err != nil {
			return err
		}
	}
	if ref == "" {
		return nil
	}
	if err := sh.run(ctx, id, dir, nil, "git", "checkout", "--quiet", ref, "--"); err != nil {
		// The ref may be newer than the clone (a resumed install): fetch and try again.
		if ferr := sh.run(ctx, id, dir, nil, "git", "fetch", "--tags", "origin"); ferr != nil {
			return err
		}
		if err := sh.run(ctx, id, dir, nil, "git", "checkout", "--quiet", ref, "--"); err != nil {
			return err
		}
	}
	if recursive {
		return sh.run(ctx, id, dir, nil, "git", "submodule", "update", "--init", "--recursive")
	}
	return nil
}

func isGitRepo(ctx context.Context, dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		return false
	}
	top, err := gitOutput(ctx, dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return false
	}
	a, _ := filepath.EvalSymlinks(top)
	b, _ := filepath.EvalSymlinks(dir)
	return a == b
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
