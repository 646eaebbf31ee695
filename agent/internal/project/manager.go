package project

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/store"
)

// Manager owns every project. It builds the parts that do the work and is the facade its
// callers (the app, the HTTP handlers, the supervisor's hooks) use:
//
//   - records, states, progress: the project records, their state changes and progress;
//   - creator, installOps, installer: create or import a project, run its install as a
//     durable operation, and the install steps themselves (with venvs, files and shell);
//   - processes, ProcessEvents: start and stop ComfyUI, and what the supervisor reports;
//   - remover: delete a project;
//   - restorer, reconciler: re-adopt processes after an agent restart, and keep the
//     [[projects]] of launcher.toml in their declared state;
//   - logBook, logPruner: project logs and their retention; targets: the proxy's ports.
type Manager struct {
	db  Store
	log *slog.Logger

	recs       *records
	progress   *progressBoard
	logs       *logBook
	layout     layout
	templates  templateSet
	creator    *creator
	install    *installOps
	procs      *processes
	events     *ProcessEvents
	remover    *remover
	restorer   *restorer
	reconciler *reconciler
	pruner     logPruner
	targets    targets

	ops Operations
	// ownOps is the manager's own runner when Deps.Ops is nil.
	ownOps *recovery.Runner

	mu         sync.Mutex
	registered bool

	// bg tracks background goroutines (reconcile, async starts) so Stop can wait for them.
	bg     sync.WaitGroup
	cancel context.CancelFunc
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
	log := deps.Logger.With("component", "project")
	m := &Manager{db: deps.Store, log: log, ops: deps.Ops, layout: layout{dataDir: opts.DataDir}}
	if m.ops == nil {
		// No runner wired (unit tests, an embedded manager): one of its own on the same
		// store, running each step once.
		m.ownOps = recovery.New(deps.Store, deps.Publisher, recovery.Options{Disabled: true, Logger: log})
		m.ops = RecoveryOps{Runner: m.ownOps}
	}
	m.recs = newRecords(deps.Store, deps.Now)
	m.progress = newProgressBoard(deps.Publisher)
	m.logs = newLogBook(deps.Store, deps.Publisher, deps.Now, opts.MaxLogEntries, log.With("part", "logs"))
	m.templates = templateSet{dir: opts.TemplatesDir, importer: deps.Importer}
	m.targets = targets{recs: m.recs}
	m.pruner = logPruner{db: deps.Store, recs: m.recs, logs: m.logs, layout: m.layout}

	st := &states{recs: m.recs, progress: m.progress, logs: m.logs, now: deps.Now, repo: opts.Repo, python: opts.Python}
	sh := shell{logs: m.logs}
	fs := files{models: deps.Models, modelsDir: opts.ModelsDir, layout: m.layout}
	steps := &installer{recs: m.recs, states: st, progress: m.progress, logs: m.logs, layout: m.layout, sh: sh,
		venvs: venvs{layout: m.layout, sh: sh, python: opts.Python, pipArgs: opts.PipArgs}, files: fs,
		repo: opts.Repo, ref: opts.Ref}
	m.install = &installOps{ops: m.ops, attempts: opts.InstallAttempts, steps: steps, recs: m.recs, states: st,
		logs: m.logs, layout: m.layout, log: log}
	m.creator = &creator{recs: m.recs, states: st, logs: m.logs, layout: m.layout, files: fs, templates: m.templates,
		install: m.install, importer: deps.Importer, now: deps.Now, log: log, portMin: opts.PortMin, portMax: opts.PortMax}
	m.procs = &processes{recs: m.recs, states: st, progress: m.progress, logs: m.logs, layout: m.layout, log: log,
		sup: deps.Supervisor, ports: deps.Ports, gpus: deps.GPUs, importer: deps.Importer,
		launchArgs: opts.LaunchArgs, readyTimeout: opts.ReadyTimeout, stopGrace: opts.StopGrace}
	m.events = &ProcessEvents{recs: m.recs, states: st, progress: m.progress, logs: m.logs, log: log, release: m.procs.release}
	m.remover = &remover{recs: m.recs, progress: m.progress, logs: m.logs, layout: m.layout, install: m.install, procs: m.procs, log: log}
	m.restorer = &restorer{recs: m.recs, states: st, progress: m.progress, logs: m.logs, procs: m.procs, install: m.install, log: log, bg: &m.bg}
	m.reconciler = &reconciler{desired: opts.Desired, interval: opts.ReconcileInterval, actions: m, recs: m.recs,
		logs: m.logs, procs: m.procs, log: log, reconciled: make(chan struct{})}
	return m
}

// Start loads the projects, re-adopts live ComfyUI processes, marks dead ones stopped (or
// restarts them per policy), resumes unfinished installs and starts the desired-state loop.
func (m *Manager) Start(ctx context.Context) error {
	if err := m.db.EnsureBuckets(store.BucketProjects, store.BucketLauncherJSON, store.BucketLogs); err != nil {
		return fmt.Errorf("project store: %w", err)
	}
	if err := m.Register(); err != nil {
		return err
	}
	if err := m.recs.load(m.log); err != nil {
		return err
	}
	if m.ownOps != nil {
		if err := m.ownOps.Start(ctx); err != nil {
			return err
		}
	}
	m.restorer.restore(ctx)
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		m.reconciler.loop(loopCtx)
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
	if err := m.ops.Register(m.install.definition()); err != nil {
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
	if m.procs.sup != nil {
		m.procs.saveRecords()
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
