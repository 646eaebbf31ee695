package project

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/events"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/store"
)

// InstallFunction is the name of the install operation.
const InstallFunction = "install_project"

// Manager owns every project: its record, install operation, process and logs.
type Manager struct {
	deps Deps
	opts Options
	log  *slog.Logger
	now  func() time.Time
	logs *logBook
	ops  Operations
	// ownOps is the manager's own runner when Deps.Ops is nil.
	ownOps *recovery.Runner

	mu         sync.Mutex
	registered bool
	projects   map[string]*entry
	progress   map[string]Progress
	models     map[string][]string

	// health remembers a failing project store for GET /api/health.
	health persistHealth

	// bg tracks background goroutines (reconcile, async starts) so Stop can wait for them.
	bg     sync.WaitGroup
	cancel context.CancelFunc

	// reconciled closes after the first pass over the declared projects (readiness).
	reconciled chan struct{}
}

// entry is one project; mu serialises lifecycle actions (start, stop, delete, install
// submission) of that project, while Manager.mu guards the record itself.
type entry struct {
	mu sync.Mutex
	p  Project
}

// New returns a manager; it does nothing until Start.
func New(deps Deps, opts Options) *Manager {
	opts.setDefaults()
	opts.Repo = localRepoAbs(opts.Repo)
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	m := &Manager{
		deps:     deps,
		opts:     opts,
		log:      deps.Logger.With("component", "project"),
		now:      deps.Now,
		projects: map[string]*entry{},
		progress: map[string]Progress{},
		models:   map[string][]string{},

		reconciled: make(chan struct{}),
	}
	m.logs = newLogBook(deps.Store, deps.Publisher, deps.Now, opts.MaxLogEntries, m.log.With("part", "logs"))
	m.ops = deps.Ops
	if m.ops == nil {
		// No runner wired (unit tests, an embedded manager): one of its own on the same
		// store, running each step once.
		m.ownOps = recovery.New(deps.Store, deps.Publisher, recovery.Options{Disabled: true, Logger: m.log})
		m.ops = RecoveryOps{Runner: m.ownOps}
	}
	return m
}

// Start loads the projects, re-adopts live ComfyUI processes, marks dead ones stopped (or
// restarts them per policy), resumes unfinished installs and starts the desired-state loop.
func (m *Manager) Start(ctx context.Context) error {
	if err := m.deps.Store.EnsureBuckets(store.BucketProjects, store.BucketLogs); err != nil {
		return fmt.Errorf("project store: %w", err)
	}
	if err := m.Register(); err != nil {
		return err
	}
	if err := m.load(); err != nil {
		return err
	}
	if m.ownOps != nil {
		if err := m.ownOps.Start(ctx); err != nil {
			return err
		}
	}
	m.restore(ctx)
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		m.reconcileLoop(loopCtx)
	}()
	return nil
}

// Register registers the install operation with the runner. With the recovery runner, call it
// before the runner's Start so that the runner can resume unfinished installs; Start calls it
// if it has not run.
func (m *Manager) Register() error {
	m.mu.Lock()
	done := m.registered
	m.registered = true
	m.mu.Unlock()
	if done {
		return nil
	}
	if err := m.ops.Register(m.installDefinition()); err != nil {
		return fmt.Errorf("register %s: %w", InstallFunction, err)
	}
	return nil
}

// Stop ends the reconcile loop and background work. Running ComfyUI processes are left
// running (the supervisor detaches) so they survive an agent restart.
func (m *Manager) Stop(ctx context.Context) error {
	if m.cancel != nil {
		m.cancel()
	}
	if m.deps.Supervisor != nil {
		m.saveProcessRecords()
	}
	if m.ownOps != nil {
		if err := m.ownOps.Stop(ctx); err != nil {
			return err
		}
	}
	done := make(chan struct{})
	go func() { m.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := m.logs.Close(); err != nil {
		return fmt.Errorf("write queued project logs: %w", err)
	}
	return nil
}

func (m *Manager) load() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.deps.Store.Scan(store.BucketProjects, "", func(key string, raw []byte) error {
		var p Project
		if err := json.Unmarshal(raw, &p); err != nil {
			m.log.Warn("skipping unreadable project record", "key", key, "err", err)
			return nil
		}
		m.projects[p.ID] = &entry{p: p}
		m.indexModels(&p)
		return nil
	})
}

// projectDir is <data_dir>/projects/<id>.
func (m *Manager) projectDir(id string) string {
	return filepath.Join(m.opts.DataDir, "projects", id)
}

// get returns a copy of the project record.
func (m *Manager) get(id string) (Project, *entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.projects[id]
	if !ok {
		return Project{}, nil, notFound(id)
	}
	return e.p, e, nil
}

func notFound(id string) *apierr.Error {
	return apierr.Newf(apierr.NotFound, "ProjectNotFoundError", "project %q does not exist", id).
		Suggest("List projects with GET /api/projects", "Create it with POST /api/create_project")
}

// update applies fn to the record, persists it and returns the new copy.
func (m *Manager) update(id string, fn func(p *Project)) (Project, error) {
	m.mu.Lock()
	e, ok := m.projects[id]
	if !ok {
		m.mu.Unlock()
		return Project{}, notFound(id)
	}
	fn(&e.p)
	e.p.UpdatedAt = m.now().UTC()
	p := e.p
	err := m.deps.Store.Put(store.BucketProjects, id, p)
	m.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("persist project %s: %w", id, err)
	}
	m.health.note(err, m.now())
	return p, err
}

// setState moves a project to state with its UI message and clears a stale failure.
func (m *Manager) setState(id string, s State) (Project, error) {
	p, err := m.update(id, func(p *Project) {
		p.State = s
		p.StatusMessage = statusMessages[s]
		if s != StateFailed {
			p.Failure = nil
		}
	})
	if err == nil {
		m.publishState(p)
	}
	return p, err
}

// fail moves a project to failed with the step, the error and suggestions.
func (m *Manager) fail(id, step string, err error, retryable bool) (Project, error) {
	f := &Failure{Step: step, Error: err.Error(), Retryable: retryable, Time: m.now().UTC()}
	var ae *apierr.Error
	if errors.As(err, &ae) {
		f.Type = ae.Type
		f.Suggestions = append(f.Suggestions, ae.Suggestions...)
	}
	f.Suggestions = append(f.Suggestions, stepSuggestions(step, id, m.opts)...)
	p, uerr := m.update(id, func(p *Project) {
		p.State = StateFailed
		p.StatusMessage = "Failed: " + step + ": " + f.Error
		p.Failure = f
		f.OpID = p.InstallOp
		if step == stepStart || step == stepRun {
			// The supervisor killed the process of a failed start; a crashed one is gone.
			f.OpID = ""
			p.Process, p.Placement = nil, nil
		}
	})
	m.logs.Add(id, LevelError, fmt.Sprintf("%s failed: %s", step, f.Error), map[string]any{"step": step, "suggestions": f.Suggestions})
	if uerr == nil {
		m.publishState(p)
	}
	return p, uerr
}

// publishState sends the state as a progress_update so subscribers see every transition.
func (m *Manager) publishState(p Project) {
	m.mu.Lock()
	pr := m.progress[p.ID]
	if !p.State.Installing() {
		pr = Progress{Stage: string(p.State), Progress: 100}
		if p.State == StateFailed && p.Failure != nil {
			pr.Progress = 0
			pr.Error = p.Failure.Error
		}
		m.progress[p.ID] = pr
	}
	m.mu.Unlock()
	m.publishProgress(p.ID, pr)
}

func (m *Manager) setProgress(id string, pr Progress) {
	m.mu.Lock()
	m.progress[id] = pr
	m.mu.Unlock()
	m.publishProgress(id, pr)
}

func (m *Manager) publishProgress(id string, pr Progress) {
	if m.deps.Publisher != nil {
		m.deps.Publisher.Publish(events.ProjectTopic(id), events.Progress, events.ProjectProgress{ProjectID: id, Progress: pr})
	}
}

// ProgressSnapshot is the current progress of a project, for a new subscriber.
func (m *Manager) ProgressSnapshot(projectID string) (events.ProjectProgress, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pr, ok := m.progress[projectID]
	if !ok {
		e, exists := m.projects[projectID]
		if !exists {
			return events.ProjectProgress{}, false
		}
		pr = Progress{Stage: string(e.p.State), Progress: 100}
	}
	return events.ProjectProgress{ProjectID: projectID, Progress: pr}, true
}

// Snapshot is the hub's SnapshotFunc for project progress and logs: a new subscriber first
// gets the current progress_update, or the recent log_entry events.
func (m *Manager) Snapshot(kind, id string) []events.Event {
	switch kind {
	case events.KindProject:
		if snap, ok := m.ProgressSnapshot(id); ok {
			return []events.Event{{Name: events.Progress, Data: snap}}
		}
	case events.KindLogs:
		var out []events.Event
		for _, e := range m.RecentLogs(id) {
			out = append(out, events.Event{Name: events.LogEntry, Data: e})
		}
		return out
	}
	return nil
}

// RecentLogs are the last log entries of a project as log_entry payloads, oldest first.
func (m *Manager) RecentLogs(projectID string) []events.ProjectLog {
	var out []events.ProjectLog
	for _, e := range m.logs.Recent(projectID) {
		out = append(out, events.ProjectLog{ProjectID: projectID, Log: e})
	}
	return out
}

// Target returns the port of a running project, for the reverse proxy.
func (m *Manager) Target(projectID string) (int, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.projects[projectID]
	if !ok {
		return m.targetByPortLocked(projectID)
	}
	// A known project that is not running answers (0, true): the proxy then says "not
	// running, start it" instead of "no such project".
	if e.p.Process == nil || (e.p.State != StateRunning && e.p.State != StateStarting) {
		return 0, true
	}
	return e.p.Process.Port, true
}

// targetByPortLocked resolves /comfy/<port>/, the URL the original web UI builds in proxy
// mode, to the running project on that port.
func (m *Manager) targetByPortLocked(id string) (int, bool) {
	port, err := strconv.Atoi(id)
	if err != nil || port <= 0 {
		return 0, false
	}
	for _, e := range m.projects {
		if e.p.Process != nil && e.p.Process.Port == port && (e.p.State == StateRunning || e.p.State == StateStarting) {
			return port, true
		}
	}
	return 0, false
}

// ModelsByProject maps project ids to the "folder/name" model paths of their launcher JSON.
func (m *Manager) ModelsByProject() map[string][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]string, len(m.models))
	for id, l := range m.models {
		out[id] = append([]string(nil), l...)
	}
	return out
}

// indexModels refreshes the model index of p; m.mu is held.
func (m *Manager) indexModels(p *Project) {
	lj, err := parseLauncherJSON(p.LauncherJSON)
	if err != nil {
		delete(m.models, p.ID)
		return
	}
	if paths := lj.modelPaths(); len(paths) > 0 {
		m.models[p.ID] = paths
	} else {
		delete(m.models, p.ID)
	}
}

// List returns every project, most recently changed first.
func (m *Manager) List() []Project {
	m.mu.Lock()
	out := make([]Project, 0, len(m.projects))
	for _, e := range m.projects {
		out = append(out, e.p)
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].UpdatedAt.Equal(out[j].UpdatedAt) {
			return out[i].UpdatedAt.After(out[j].UpdatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Get returns one project.
func (m *Manager) Get(id string) (Project, error) {
	p, _, err := m.get(id)
	return p, err
}

// ensureDir creates the project's folders.
func (m *Manager) ensureDir(id string) error {
	for _, d := range []string{"", ".launcher", "logs"} {
		if err := os.MkdirAll(filepath.Join(m.projectDir(id), d), 0o755); err != nil {
			return fmt.Errorf("create project folder: %w", err)
		}
	}
	return nil
}

// flushLogs writes the queued log lines before a state change that readers take as "done"
// (ready, running), so whoever sees the state also finds every line logged before it. A
// failed write is already logged and reported by the logs' health; the state change goes on.
func (m *Manager) flushLogs() {
	_ = m.logs.Flush()
}

// Dir is the folder of a project (<data_dir>/projects/<id>).
func (m *Manager) Dir(id string) string { return m.projectDir(id) }

// Logs returns one page of a project's log entries, oldest first, optionally only those of
// one level.
func (m *Manager) Logs(id string, page, perPage int, level string) ([]LogEntry, Pagination, error) {
	return m.logs.Page(id, page, perPage, level)
}
