package project

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/gpu"
	"github.com/comfylauncher/launcher/agent/internal/store"
)

// CreateRequest creates a project. LauncherJSON wins over Template; neither means plain
// ComfyUI.
type CreateRequest struct {
	ID           string
	Name         string
	Template     string
	LauncherJSON json.RawMessage
	Port         int
	GPU          gpu.Preference
	Restart      string
	LaunchArgs   []string
	Env          map[string]string
	Desired      string
}

var slugStrip = regexp.MustCompile(`[^\w\s-]`)
var slugDash = regexp.MustCompile(`[-\s]+`)

// Slugify makes a project id from a name as Django's slugify did for the original launcher:
// ASCII-fold, lowercase, drop what is not a word character, space or dash, and join with "-".
func Slugify(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r < 0x80 {
			b.WriteRune(r)
		} else if f, ok := asciiFold[r]; ok {
			b.WriteString(f)
		}
	}
	s := strings.ToLower(slugStrip.ReplaceAllString(b.String(), ""))
	s = slugDash.ReplaceAllString(strings.TrimSpace(s), "-")
	return strings.Trim(s, "-_")
}

// asciiFold maps the Latin letters with diacritics that names commonly carry to ASCII.
var asciiFold = func() map[rune]string {
	m := map[rune]string{'ß': "ss", 'æ': "ae", 'Æ': "AE", 'ø': "o", 'Ø': "O", 'œ': "oe", 'Œ': "OE", 'ł': "l", 'Ł': "L"}
	for base, letters := range map[string]string{
		"a": "àáâãäåāăą", "A": "ÀÁÂÃÄÅĀĂĄ", "c": "çćĉċč", "C": "ÇĆĈĊČ", "e": "èéêëēĕėęě", "E": "ÈÉÊËĒĔĖĘĚ",
		"i": "ìíîïĩīĭį", "I": "ÌÍÎÏĨĪĬĮ", "n": "ñńņň", "N": "ÑŃŅŇ", "o": "òóôõöōŏő", "O": "ÒÓÔÕÖŌŎŐ",
		"u": "ùúûüũūŭůűų", "U": "ÙÚÛÜŨŪŬŮŰŲ", "y": "ýÿ", "Y": "Ý", "s": "śŝşš", "S": "ŚŜŞŠ", "z": "źżž", "Z": "ŹŻŽ",
	} {
		for _, r := range letters {
			m[r] = base
		}
	}
	return m
}()

var validID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Create records a new project and submits its install.
func (m *Manager) Create(ctx context.Context, req CreateRequest) (Project, error) {
	if strings.TrimSpace(req.Name) == "" && req.ID == "" {
		return Project{}, apierr.New(apierr.Invalid, "ValidationError", "name is required", "Send {\"name\": \"my project\"}")
	}
	id := req.ID
	if id == "" {
		id = Slugify(req.Name)
	}
	if req.Name == "" {
		req.Name = id
	}
	if !validID.MatchString(id) {
		return Project{}, apierr.Newf(apierr.Invalid, "ValidationError", "name %q gives no usable project id (%q)", req.Name, id).
			Suggest("Use a name with letters or digits, at most 63 characters")
	}
	if req.Port != 0 && (req.Port < 1024 || req.Port > 65535) {
		return Project{}, apierr.Newf(apierr.Invalid, "ValidationError", "port %d is out of range", req.Port).
			Suggest(fmt.Sprintf("Use a port in %d..%d, or omit it to get a free one", m.opts.PortMin, m.opts.PortMax))
	}
	switch req.Restart {
	case "":
		req.Restart = RestartOnFailure
	case RestartNever, RestartOnFailure, RestartAlways:
	default:
		return Project{}, apierr.Newf(apierr.Invalid, "ValidationError", "restart %q is not never, on-failure or always", req.Restart).
			Suggest("Use \"on-failure\" (the default)")
	}
	if err := validateArgs(req.LaunchArgs); err != nil {
		return Project{}, err
	}
	raw := req.LauncherJSON
	if len(raw) == 0 && req.Template != "" && req.Template != "empty" {
		var err error
		if raw, err = m.loadTemplate(ctx, req.Template); err != nil {
			return Project{}, err
		}
	}
	lj, err := parseLauncherJSON(raw)
	if err != nil {
		return Project{}, err
	}
	if err := m.checkDests(lj); err != nil {
		return Project{}, err
	}
	now := m.now().UTC()
	p := Project{
		ID: id, Name: req.Name, State: StateDownloadComfyUI, StatusMessage: statusMessages[StateDownloadComfyUI],
		FixedPort: req.Port, Template: req.Template, LauncherJSON: raw, GPU: req.GPU, Restart: req.Restart,
		LaunchArgs: req.LaunchArgs, Env: req.Env, Desired: req.Desired, CreatedAt: now, UpdatedAt: now,
	}
	m.mu.Lock()
	if _, exists := m.projects[id]; exists {
		m.mu.Unlock()
		return Project{}, apierr.Newf(apierr.Conflict, "ProjectExistsError", "a project with id %q already exists", id).
			Suggest("Choose another name", fmt.Sprintf("Or delete the old one: POST /api/projects/%s/delete", id))
	}
	if err := m.deps.Store.Put(store.BucketProjects, id, p); err != nil {
		m.mu.Unlock()
		return Project{}, fmt.Errorf("persist project: %w", err)
	}
	e := &entry{p: p}
	m.projects[id] = e
	m.indexModels(&p)
	m.mu.Unlock()

	// A folder without a record is a leftover (a record lost with its store, or a delete whose
	// install was still writing): its markers must not vouch for the new project.
	if err := os.RemoveAll(m.projectDir(id)); err != nil {
		m.log.Warn("remove leftover project folder", "project", id, "err", err)
	}
	m.logs.Add(id, LevelInfo, fmt.Sprintf("project %q created", req.Name), map[string]any{"template": req.Template})
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := m.submitInstall(ctx, id); err != nil {
		p, ferr := m.fail(id, stepDownloadComfyUI, err, true)
		if ferr != nil {
			return p, fmt.Errorf("submit install: %v; record the failure: %w", err, ferr)
		}
		return p, nil
	}
	return m.Get(id)
}

// validateArgs refuses launch arguments the agent itself controls.
func validateArgs(args []string) error {
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		switch name {
		case "--port", "--listen", "--extra-model-paths-config":
			return apierr.Newf(apierr.Invalid, "ValidationError", "launch argument %s is set by the agent", name).
				Suggest("Remove it: the agent chooses the port, listens on 127.0.0.1 and writes extra_model_paths.yaml")
		}
	}
	return nil
}

// submitInstall starts the install operation; the caller holds the entry's lock.
func (m *Manager) submitInstall(ctx context.Context, id string) error {
	if err := m.ensureDir(id); err != nil {
		return err
	}
	opID, err := m.ops.Submit(ctx, InstallFunction, map[string]any{"project_id": id})
	if err != nil {
		return fmt.Errorf("submit install: %w", err)
	}
	_, err = m.update(id, func(p *Project) { p.InstallOp = opID })
	return err
}

// Retry re-runs a failed project: its install from the failed step, or a start that failed.
func (m *Manager) Retry(ctx context.Context, id string) (Project, error) {
	p, e, err := m.get(id)
	if err != nil {
		return p, err
	}
	if p.State != StateFailed {
		return p, apierr.Newf(apierr.Conflict, "InvalidStateError", "project %q is %s, not failed", id, p.State).
			Suggest("Only failed projects are retried")
	}
	if p.Installed {
		return m.StartProject(ctx, id)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// Resume at the failed step: the state is set before the runner can move it on.
	resume := StateDownloadComfyUI
	if p.Failure != nil && State(p.Failure.Step).Installing() {
		resume = State(p.Failure.Step)
	}
	m.logs.Add(id, LevelInfo, "retrying install at "+string(resume), nil)
	if _, err := m.setState(id, resume); err != nil {
		return p, err
	}
	if p.InstallOp != "" {
		if opID, rerr := m.ops.Retry(p.InstallOp, true, 0); rerr == nil {
			return m.update(id, func(p *Project) { p.InstallOp = opID })
		}
	}
	if err := m.submitInstall(ctx, id); err != nil {
		return m.fail(id, string(resume), err, true)
	}
	return m.Get(id)
}

// procSpec is how the supervisor runs the project's ComfyUI.
func (m *Manager) procSpec(p Project, port int, pl gpu.Placement) ProcSpec {
	args := append(append(append([]string{}, m.opts.LaunchArgs...), pl.ExtraArgs...), p.LaunchArgs...)
	env := map[string]string{}
	for k, v := range pl.Env {
		env[k] = v
	}
	for k, v := range p.Env {
		env[k] = v
	}
	return ProcSpec{
		ProjectID:       p.ID,
		Dir:             filepath.Join(m.projectDir(p.ID), "comfyui"),
		Python:          m.venvPython(p.ID),
		Port:            port,
		ExtraModelPaths: m.extraModelPaths(p.ID),
		Args:            args,
		Env:             env,
		LogDir:          filepath.Join(m.projectDir(p.ID), "logs"),
		ReadyTimeout:    m.opts.ReadyTimeout,
		StopGrace:       m.opts.StopGrace,
		Restart:         p.Restart,
	}
}

// StartProject starts ComfyUI and waits until it answers. A failure leaves the project
// failed with the cause and suggestions, and the error is returned.
func (m *Manager) StartProject(ctx context.Context, id string) (Project, error) {
	p, e, err := m.get(id)
	if err != nil {
		return p, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p, _, _ = m.get(id)
	switch {
	case p.State == StateRunning:
		return p, nil
	case p.State == StateReady, p.State == StateFailed && p.Installed:
	default:
		return p, apierr.Newf(apierr.Conflict, "InvalidStateError", "project %q is %s; only a ready project can start", id, p.State).
			Suggest("Wait for the install to finish (GET /api/projects/"+id+")", "Retry a failed install with POST /api/projects/"+id+"/retry")
	}
	// The start outlives the request: a client that disconnects must not leave a half-started
	// process behind.
	ctx = context.WithoutCancel(ctx)
	// A refused admission (no free port, no GPU with room) leaves the project as it was: the
	// request failed, the project did not. The log says why.
	port, err := m.deps.Ports.Lease(id, p.FixedPort)
	if err != nil {
		m.logs.Add(id, LevelWarning, "start refused: "+err.Error(), nil)
		return p, err
	}
	var pl gpu.Placement
	if m.deps.GPUs != nil {
		var est int64
		if m.deps.Importer != nil {
			if lj, perr := parseLauncherJSON(p.LauncherJSON); perr == nil && len(lj.WorkflowJSON) > 0 {
				est = m.deps.Importer.EstimateVRAM(lj.WorkflowJSON)
			}
		}
		if pl, err = m.deps.GPUs.Place(ctx, gpu.PlaceRequest{ProjectID: id, Pref: p.GPU, EstimateMB: est}); err != nil {
			m.deps.Ports.Release(id)
			m.logs.Add(id, LevelWarning, "start refused: "+err.Error(), nil)
			return p, err
		}
	}
	// The placement is recorded with the state: the process record follows as soon as it is
	// spawned (OnProcessSpawn), and re-adoption after an agent restart needs both.
	sp, err := m.update(id, func(p *Project) {
		p.State = StateStarting
		p.StatusMessage = statusMessages[StateStarting]
		p.Failure = nil
		placed := pl
		p.Placement = &placed
	})
	if err != nil {
		m.releaseResources(id)
		return p, err
	}
	m.publishState(sp)
	m.logs.Add(id, LevelInfo, fmt.Sprintf("starting ComfyUI on port %d", port), map[string]any{"port": port, "gpus": pl.GPUUUIDs})
	rec, err := m.deps.Supervisor.Start(ctx, m.procSpec(p, port, pl))
	// A leased port can be taken between the lease's bind probe and ComfyUI's own bind (another
	// agent, any program): lease another and start again. A fixed port is the user's choice.
	for try := 1; try < leaseTries && p.FixedPort == 0 && isPortInUse(err); try++ {
		m.deps.Ports.Release(id)
		if port, err = m.deps.Ports.Lease(id, 0); err != nil {
			break
		}
		m.logs.Add(id, LevelWarning, fmt.Sprintf("the leased port was taken by another process; starting ComfyUI on port %d", port), map[string]any{"port": port})
		rec, err = m.deps.Supervisor.Start(ctx, m.procSpec(p, port, pl))
	}
	if err != nil {
		m.releaseResources(id)
		if _, ferr := m.fail(id, stepStart, err, true); ferr != nil {
			err = errors.Join(err, fmt.Errorf("record the failed start: %w", ferr))
		}
		return m.mustGet(id), err
	}
	if m.deps.GPUs != nil {
		m.deps.GPUs.BindProcess(id, rec.PGID)
	}
	m.logs.Add(id, LevelInfo, fmt.Sprintf("ComfyUI is running (pid %d, port %d)", rec.PID, rec.Port), nil)
	m.flushLogs()
	p, err = m.update(id, func(p *Project) {
		p.State = StateRunning
		p.StatusMessage = statusMessages[StateRunning]
		p.Failure = nil
		r, placed := rec, pl
		p.Process = &r
		p.Placement = &placed
	})
	m.publishState(p)
	return p, err
}

// leaseTries is how many leased ports a start tries when each is taken before ComfyUI binds it.
const leaseTries = 3

// isPortInUse reports whether a start failed because the port was taken.
func isPortInUse(err error) bool {
	var e *apierr.Error
	return errors.As(err, &e) && e.Type == "PortInUseError"
}

func (m *Manager) mustGet(id string) Project {
	p, _ := m.Get(id)
	return p
}

func (m *Manager) releaseResources(id string) {
	m.deps.Ports.Release(id)
	if m.deps.GPUs != nil {
		m.deps.GPUs.Release(id)
	}
}

// StopProject stops ComfyUI (SIGTERM to its group, then SIGKILL after the grace period).
func (m *Manager) StopProject(ctx context.Context, id string) (Project, error) {
	p, e, err := m.get(id)
	if err != nil {
		return p, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return m.stopLocked(ctx, id)
}

func (m *Manager) stopLocked(ctx context.Context, id string) (Project, error) {
	p, _, _ := m.get(id)
	if p.State != StateRunning && p.State != StateStarting && p.State != StateStopping && p.Process == nil {
		return p, apierr.Newf(apierr.Conflict, "InvalidStateError", "project %q is %s, not running", id, p.State).
			Suggest("Start it with POST /api/projects/" + id + "/start")
	}
	if _, err := m.setState(id, StateStopping); err != nil {
		return p, err
	}
	ctx = context.WithoutCancel(ctx)
	if err := m.deps.Supervisor.Stop(ctx, id); err != nil {
		m.log.Warn("stop", "project", id, "err", err)
	}
	m.releaseResources(id)
	p, err := m.update(id, func(p *Project) {
		p.State = StateReady
		p.StatusMessage = statusMessages[StateReady]
		p.Process = nil
		p.Placement = nil
	})
	m.publishState(p)
	m.logs.Add(id, LevelInfo, "ComfyUI stopped", nil)
	return p, err
}

// RestartProject stops (if running) and starts again.
func (m *Manager) RestartProject(ctx context.Context, id string) (Project, error) {
	p, err := m.Get(id)
	if err != nil {
		return p, err
	}
	if p.State == StateRunning || p.State == StateStarting || p.Process != nil {
		if _, err := m.StopProject(ctx, id); err != nil {
			return p, err
		}
	}
	return m.StartProject(ctx, id)
}

// Delete cancels an install, stops the process and removes the project and its logs. Shared
// models stay.
func (m *Manager) Delete(ctx context.Context, id string) error {
	p, e, err := m.get(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if p.InstallOp != "" && p.State.Installing() {
		if err := m.ops.Cancel(p.InstallOp); err != nil {
			m.log.Warn("cancel the install of a deleted project", "project", id, "op", p.InstallOp, "err", err)
		}
		m.awaitOpEnd(ctx, p.InstallOp)
	}
	if p.Process != nil || p.State == StateRunning || p.State == StateStarting {
		if _, err := m.stopLocked(ctx, id); err != nil {
			m.log.Warn("stop the process of a deleted project", "project", id, "err", err)
		}
	}
	m.mu.Lock()
	delete(m.projects, id)
	delete(m.progress, id)
	delete(m.models, id)
	m.mu.Unlock()
	if err := m.deps.Store.Delete(store.BucketProjects, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete project record: %w", err)
	}
	if err := m.logs.Forget(id); err != nil {
		m.log.Warn("delete project logs", "project", id, "err", err)
	}
	// Removing a tree with a venv can take a while; the project is already gone from the API.
	if err := os.RemoveAll(m.projectDir(id)); err != nil {
		m.log.Warn("remove project folder", "project", id, "err", err)
	}
	return nil
}

// OnProcessLog receives ComfyUI output lines from the supervisor.
func (m *Manager) OnProcessLog(projectID string, t time.Time, level, msg string) {
	m.logs.AddAt(projectID, t, level, msg, map[string]any{"source": "comfyui"})
}

// OnProcessSpawn records a spawned ComfyUI before anyone waits for it to answer, so that an
// agent killed meanwhile finds it again (or ends it) instead of starting a second one. An
// error makes the supervisor stop the process.
func (m *Manager) OnProcessSpawn(projectID string, rec ProcRecord) error {
	_, err := m.update(projectID, func(p *Project) {
		r := rec
		p.Process = &r
	})
	return err
}

// OnProcessReady records a (re)started process from the supervisor.
func (m *Manager) OnProcessReady(projectID string, rec ProcRecord) {
	m.flushLogs()
	p, err := m.update(projectID, func(p *Project) {
		if p.State == StateStopping {
			return
		}
		r := rec
		p.Process = &r
		p.State = StateRunning
		p.StatusMessage = statusMessages[StateRunning]
		p.Failure = nil
	})
	if err != nil {
		m.log.Error("record a ready ComfyUI", "project", projectID, "pid", rec.PID, "err", err)
		return
	}
	m.publishState(p)
}

// OnProcessExit records an unexpected exit. A process the supervisor restarts keeps the
// project in starting; a final exit is the failed state with the cause, never "running".
func (m *Manager) OnProcessExit(projectID string, info ProcExit) {
	p, _, err := m.get(projectID)
	if err != nil || p.State == StateStopping || p.Process == nil {
		return // deleted, being stopped, or already stopped: not a crash
	}
	msg := info.Message
	if msg == "" {
		msg = fmt.Sprintf("ComfyUI exited (code %d %s)", info.ExitCode, info.Signal)
	}
	if info.WillRestart {
		m.logs.Add(projectID, LevelWarning, msg+": restarting", map[string]any{"cause": info.Cause})
		p, err = m.update(projectID, func(p *Project) {
			p.State = StateStarting
			p.StatusMessage = "Restarting after a crash..."
		})
		if err != nil {
			m.log.Error("record a ComfyUI restart", "project", projectID, "err", err)
			return
		}
		m.publishState(p)
		return
	}
	m.releaseResources(projectID)
	if info.BreakerReason != "" {
		msg += " (" + info.BreakerReason + ")"
	}
	e := apierr.New(apierr.Unavailable, "ProcessExitedError", msg, info.Suggestions...)
	if info.Cause != "" {
		e.Type = "ProcessExitedError:" + info.Cause
	}
	// fail also clears the process record.
	if _, err := m.fail(projectID, stepRun, e, true); err != nil {
		m.log.Error("record a ComfyUI exit", "project", projectID, "exit_code", info.ExitCode, "err", err)
	}
}

// OnProcessRestart logs a restart the supervisor scheduled after a crash.
func (m *Manager) OnProcessRestart(projectID string, attempt int, delay time.Duration) {
	m.logs.Add(projectID, LevelWarning, fmt.Sprintf("restarting ComfyUI in %s (attempt %d)", delay.Round(time.Millisecond), attempt),
		map[string]any{"attempt": attempt})
}

// awaitOpEnd waits (briefly) until a cancelled operation has stopped, so that the folder is
// not removed while its step still writes into it.
func (m *Manager) awaitOpEnd(ctx context.Context, opID string) {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st, ok := m.ops.Status(opID)
		if !ok || (st != "pending" && st != "in_progress" && st != "recovering") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
