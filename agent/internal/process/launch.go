package process

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// instance is one run of a project's server.
type instance struct {
	rec    Record
	exited chan struct{} // closed when the process is gone
	// exitCode and signal are written before exited is closed.
	exitCode int
	signal   string

	tail      *tailer // nil when the run log cannot be read (adopted process)
	stopTail  chan struct{}
	closeOnce sync.Once
}

func (i *instance) record() Record {
	r := i.rec
	if i.tail != nil {
		r.LogOffset = i.tail.pos()
	}
	return r
}

// closeTail stops the tail loop and closes the file; lines not yet read stay unread.
func (i *instance) closeTail() {
	i.closeOnce.Do(func() {
		close(i.stopTail)
		if i.tail != nil {
			i.tail.close()
		}
	})
}

// normalize validates spec and fills its defaults.
func normalize(spec Spec) (Spec, error) {
	bad := func(typ, msg string, sugg ...string) (Spec, error) {
		return spec, apierr.New(apierr.Invalid, typ, msg, sugg...)
	}
	switch {
	case spec.ProjectID == "":
		return bad("InvalidProjectError", "process spec has no project id")
	case spec.Python == "":
		return bad("InvalidSpecError", "process spec has no python interpreter", "Set [comfyui] python or reinstall the project's venv")
	case spec.Port < 1 || spec.Port > 65535:
		return bad("InvalidPortError", fmt.Sprintf("port %d is not a valid TCP port", spec.Port))
	case spec.LogDir == "":
		return bad("InvalidSpecError", "process spec has no log directory")
	case !spec.Restart.Valid():
		return bad("InvalidRestartPolicyError", fmt.Sprintf("unknown restart policy %q", spec.Restart),
			`Use "never", "on-failure" or "always"`)
	}
	for _, a := range spec.Args {
		name, _, _ := strings.Cut(a, "=")
		if name == "--listen" || name == "--port" {
			return bad("InvalidLaunchArgsError", fmt.Sprintf("launch argument %s is managed by the agent", name),
				"Remove --listen/--port from the launch arguments: ComfyUI listens on 127.0.0.1 and is reached through /comfy/<project_id>/; set the project's port instead")
		}
	}
	if st, err := os.Stat(filepath.Join(spec.Dir, "main.py")); err != nil || st.IsDir() {
		return bad("ComfyUIMissingError", fmt.Sprintf("no ComfyUI checkout at %s (main.py missing)", spec.Dir),
			"Reinstall the project (retry its install)")
	}
	if spec.ReadyTimeout <= 0 {
		spec.ReadyTimeout = defaultReadyTimeout
	}
	if spec.StopGrace <= 0 {
		spec.StopGrace = defaultStopGrace
	}
	if spec.Restart == "" {
		spec.Restart = RestartNever
	}
	return spec, nil
}

// commandArgs are the arguments after the interpreter.
func commandArgs(spec Spec) []string {
	args := []string{"main.py", "--listen", "127.0.0.1", "--port", strconv.Itoa(spec.Port)}
	if spec.ExtraModelPaths != "" {
		args = append(args, "--extra-model-paths-config", spec.ExtraModelPaths)
	}
	return append(args, spec.Args...)
}

// commandEnv is the agent's environment plus spec.Env. PYTHONUNBUFFERED makes stdout reach
// the log file line by line instead of in 8 KiB blocks.
func commandEnv(spec Spec) []string {
	env := append(os.Environ(), "PYTHONUNBUFFERED=1")
	keys := make([]string, 0, len(spec.Env))
	for k := range spec.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+spec.Env[k])
	}
	return env // exec.Cmd keeps the last value of a duplicated key
}

// launch spawns a run of p and waits until it is ready. On failure the group is killed and
// the error is an *apierr.Error; info is the classified exit when the run got as far as
// spawning.
func (s *Supervisor) launch(ctx context.Context, p *proj) (*instance, *ExitInfo, error) {
	inst, err := s.spawn(p.spec)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	p.inst, p.ready = inst, false
	s.mu.Unlock()
	// The caller records the process before anyone waits on it: an agent killed while
	// ComfyUI starts must find it again (or end it) instead of starting a second one.
	if s.hooks.OnSpawn != nil {
		if err := s.hooks.OnSpawn(p.spec.ProjectID, inst.record()); err != nil {
			if terr := s.terminate(context.Background(), inst, p.spec.StopGrace); terr != nil {
				s.log.Error("stop an unrecorded ComfyUI", "project", p.spec.ProjectID, "pid", inst.rec.PID, "err", terr)
			}
			inst.closeTail()
			return nil, nil, apierr.Wrap(apierr.Internal, "ComfyUIStartError", err,
				fmt.Sprintf("ComfyUI of project %s was stopped: its process could not be recorded: %v", p.spec.ProjectID, err),
				"Check the agent's data directory (disk full, permissions) and GET /api/health")
		}
	}

	why := s.waitReady(ctx, p, inst)
	if why == nil {
		return inst, nil, nil
	}
	_ = s.terminate(context.Background(), inst, p.spec.StopGrace)
	info := s.exitInfo(inst, p.spec)
	if errors.Is(why, errStopped) || errors.Is(why, errDetached) {
		return nil, nil, apierr.Wrap(apierr.Conflict, "ComfyUIStartError", why,
			fmt.Sprintf("start of project %s was interrupted: %v", p.spec.ProjectID, why))
	}
	return nil, &info, startError(p.spec, inst, info, why)
}

// spawn starts the process in its own group with its output going to a new run log.
func (s *Supervisor) spawn(spec Spec) (*instance, error) {
	if err := os.MkdirAll(spec.LogDir, 0o755); err != nil {
		return nil, apierr.Wrap(apierr.Internal, "LogDirError", err, "", "Check that the project's log directory is writable")
	}
	now := s.opt.Clock.Now()
	f, path, err := createRunLog(spec.LogDir, now)
	if err != nil {
		return nil, apierr.Wrap(apierr.Internal, "LogDirError", err, "", "Check that the project's log directory is writable")
	}
	args := commandArgs(spec)
	fmt.Fprintf(f, "[launcher] %s %s (cwd %s)\n", spec.Python, strings.Join(args, " "), spec.Dir)

	cmd := exec.Command(spec.Python, args...)
	cmd.Dir = spec.Dir
	cmd.Env = commandEnv(spec)
	// The child gets the file descriptor itself, so its output does not depend on the agent.
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	f.Close()
	if err != nil {
		return nil, apierr.Wrap(apierr.Unavailable, "ComfyUIStartError", err,
			fmt.Sprintf("cannot run %s: %v", spec.Python, err),
			"Check that the project's venv exists (retry the install) and [comfyui] python points to an interpreter")
	}
	pid := cmd.Process.Pid
	inst := &instance{
		rec: Record{
			ProjectID: spec.ProjectID, PID: pid, PGID: pid, Port: spec.Port,
			LogPath: path, StartedAt: now,
		},
		exited:   make(chan struct{}),
		stopTail: make(chan struct{}),
	}
	// The child is not reaped before Wait, so its stat is readable even if it exited already.
	if st, err := readProcStat(pid); err == nil {
		inst.rec.StartTime = st.StartTime
	}
	go func() {
		err := cmd.Wait()
		inst.exitCode, inst.signal = exitStatus(cmd.ProcessState, err)
		close(inst.exited)
	}()
	if t, err := newTailer(path, 0, s.opt.LastLines, s.opt.Clock, s.emitter(spec.ProjectID)); err == nil {
		inst.tail = t
		go s.tailLoop(inst)
	} else {
		s.log.Warn("cannot tail run log", "project", spec.ProjectID, "err", err)
	}
	s.log.Info("comfyui spawned", "project", spec.ProjectID, "pid", pid, "port", spec.Port, "log", path)
	return inst, nil
}

// createRunLog creates LogDir/run-<UTC time>.log, adding a suffix if a run started in the same
// millisecond.
func createRunLog(dir string, now time.Time) (*os.File, string, error) {
	base := "run-" + now.UTC().Format("20060102T150405.000Z")
	for i := 0; i < 100; i++ {
		name := base + ".log"
		if i > 0 {
			name = fmt.Sprintf("%s-%d.log", base, i)
		}
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
		if err == nil {
			return f, path, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, "", fmt.Errorf("create run log: %w", err)
		}
	}
	return nil, "", fmt.Errorf("create run log in %s: too many runs at %s", dir, base)
}

func exitStatus(ps *os.ProcessState, err error) (int, string) {
	if ps == nil {
		return -1, ""
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, ws.Signal().String()
	}
	return ps.ExitCode(), ""
}

func (s *Supervisor) emitter(projectID string) func(LogLine) {
	if s.hooks.OnLog == nil {
		return nil
	}
	return func(l LogLine) { s.hooks.OnLog(projectID, l) }
}

func (s *Supervisor) tailLoop(inst *instance) {
	for {
		select {
		case <-inst.stopTail:
			return
		case <-s.detached:
			return
		case <-s.opt.Clock.After(s.opt.PollInterval):
			inst.tail.poll(false)
		}
	}
}

// waitReady polls /system_stats until it answers 200; it returns why it gave up otherwise.
func (s *Supervisor) waitReady(ctx context.Context, p *proj, inst *instance) error {
	deadline := s.opt.Clock.After(p.spec.ReadyTimeout)
	url := fmt.Sprintf("http://127.0.0.1:%d/system_stats", inst.rec.Port)
	var up <-chan struct{}
	if inst.tail != nil {
		up = inst.tail.serverUp
	}
	// A probe blocked on a port that accepts but never answers (someone else's listener)
	// ends when our process exits.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-inst.exited:
			cancel()
		case <-pctx.Done():
		}
	}()
	foreign := false
	for {
		if s.answers(pctx, url) {
			switch ours, err := groupListensOn(inst.rec.PGID, inst.rec.Port); {
			case err == nil && !ours:
				// Someone else answers on our port; our process will fail to bind and exit.
				foreign = true
			default:
				select {
				case <-inst.exited: // someone else answered on our port
					foreign = true
				default:
					if !foreign { // once a foreign server was seen, only proof makes it ours
						return nil
					}
				}
			}
		}
		select {
		case <-inst.exited:
			if p.stopping() {
				// Stop closes p.stop before it signals the process, so an exit it caused is
				// never reported as a crash, whichever of the two this select saw first.
				return errStopped
			}
			if foreign {
				return fmt.Errorf("exited during startup; another process answers on port %d", inst.rec.Port)
			}
			return errors.New("exited during startup")
		case <-deadline:
			return errReadyTimeout
		case <-ctx.Done():
			return ctx.Err()
		case <-p.stop:
			return errStopped
		case <-s.detached:
			return errDetached
		case <-up:
			up = nil // ComfyUI logged that it bound the port: probe now
		case <-s.opt.Clock.After(s.opt.PollInterval):
		}
	}
}

var errReadyTimeout = errors.New("ready timeout")

// answers reports whether GET url returns 200.
func (s *Supervisor) answers(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := s.opt.HTTPClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// exitInfo stops the tail after reading the rest of the run log and classifies the exit.
// inst must have exited.
func (s *Supervisor) exitInfo(inst *instance, spec Spec) ExitInfo {
	var lines []string
	if inst.tail != nil {
		inst.tail.poll(true)
		lines = inst.tail.lastLines()
	}
	inst.closeTail()
	c := classify(lines, spec)
	info := ExitInfo{
		ExitCode: inst.exitCode, Signal: inst.signal,
		Cause: c.Cause, Message: c.Message, Suggestions: c.Suggestions, LastLines: lines,
	}
	if c.Cause == CauseUnknown && inst.exitCode == 0 && inst.signal == "" {
		info.Message = "ComfyUI exited with code 0"
	}
	return info
}

// startError turns a failed start into the API error.
func startError(spec Spec, inst *instance, info ExitInfo, why error) *apierr.Error {
	var e *apierr.Error
	switch {
	case info.Cause == CausePortInUse:
		e = apierr.Newf(apierr.Conflict, "PortInUseError", "ComfyUI of project %s could not bind port %d: it is already in use", spec.ProjectID, spec.Port)
	case errors.Is(why, errReadyTimeout):
		e = apierr.Newf(apierr.Unavailable, "ComfyUIStartError", "ComfyUI of project %s did not answer on port %d within %s", spec.ProjectID, spec.Port, spec.ReadyTimeout)
		if info.Cause == CauseUnknown {
			info.Suggestions = []string{
				"Increase [comfyui] ready_timeout: the first start may install packages or load many custom nodes",
				"Read the run log for where it hangs",
			}
		}
	case errors.Is(why, context.Canceled) || errors.Is(why, context.DeadlineExceeded):
		e = apierr.Newf(apierr.Unavailable, "ComfyUIStartError", "start of project %s was cancelled: %v", spec.ProjectID, why)
	default:
		code := fmt.Sprintf("exit code %d", info.ExitCode)
		if info.Signal != "" {
			code = "signal " + info.Signal
		}
		e = apierr.Newf(apierr.Unavailable, "ComfyUIStartError", "ComfyUI of project %s exited during startup (%s): %s", spec.ProjectID, code, info.Message)
	}
	e.Suggest(info.Suggestions...)
	last := info.LastLines
	if len(last) > 15 {
		last = last[len(last)-15:]
	}
	cause := info.Cause
	if errors.Is(why, errReadyTimeout) && cause == CauseUnknown {
		cause = "ready_timeout"
	}
	return e.With("cause", cause).With("exit_code", info.ExitCode).With("last_lines", last).With("log_path", inst.rec.LogPath)
}
