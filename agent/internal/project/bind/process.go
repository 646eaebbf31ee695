package bind

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/process"
	"github.com/comfylauncher/launcher/agent/internal/project"
)

// Supervisor adapts the process supervisor to project.Supervisor.
type Supervisor struct {
	S *process.Supervisor
}

var _ project.Supervisor = Supervisor{}

func toSpec(s project.ProcSpec) process.Spec {
	return process.Spec{
		ProjectID: s.ProjectID, Dir: s.Dir, Python: s.Python, Port: s.Port, ExtraModelPaths: s.ExtraModelPaths,
		Args: s.Args, Env: s.Env, LogDir: s.LogDir, ReadyTimeout: s.ReadyTimeout, StopGrace: s.StopGrace,
		Restart: process.Policy(s.Restart),
	}
}

func fromRecord(r process.Record) project.ProcRecord {
	return project.ProcRecord{PID: r.PID, PGID: r.PGID, StartTime: r.StartTime, Port: r.Port,
		LogPath: r.LogPath, LogOffset: r.LogOffset, StartedAt: r.StartedAt}
}

func toRecord(id string, r project.ProcRecord) process.Record {
	return process.Record{ProjectID: id, PID: r.PID, PGID: r.PGID, StartTime: r.StartTime, Port: r.Port,
		LogPath: r.LogPath, LogOffset: r.LogOffset, StartedAt: r.StartedAt}
}

// Start runs ComfyUI and waits until it answers.
func (a Supervisor) Start(ctx context.Context, spec project.ProcSpec) (project.ProcRecord, error) {
	rec, err := a.S.Start(ctx, toSpec(spec))
	return fromRecord(rec), err
}

// Stop stops the project's ComfyUI.
func (a Supervisor) Stop(ctx context.Context, projectID string) error {
	return a.S.Stop(ctx, projectID)
}

// Adopt supervises a process that survived an agent restart.
func (a Supervisor) Adopt(ctx context.Context, spec project.ProcSpec, rec project.ProcRecord) error {
	return a.S.Adopt(ctx, toSpec(spec), toRecord(spec.ProjectID, rec))
}

// Get returns the record of a supervised process.
func (a Supervisor) Get(projectID string) (project.ProcRecord, bool) {
	rec, ok := a.S.Get(projectID)
	return fromRecord(rec), ok
}

// ManagerRef lets the supervisor's hooks reach the manager, which is built after the
// supervisor (the manager needs the supervisor). Events before Set are dropped: nothing runs
// before the manager starts.
type ManagerRef struct {
	m atomic.Pointer[project.Manager]
}

// Set points the hooks at m.
func (r *ManagerRef) Set(m *project.Manager) { r.m.Store(m) }

// Hooks are the supervisor hooks that feed ComfyUI output into the project logs and keep
// project states in step with their processes.
func (r *ManagerRef) Hooks() process.Hooks {
	return process.Hooks{
		OnLog: func(id string, l process.LogLine) {
			if m := r.m.Load(); m != nil {
				m.ProcessEvents().OnLog(id, l.Time, l.Level, l.Message)
			}
		},
		OnSpawn: func(id string, rec process.Record) error {
			if m := r.m.Load(); m != nil {
				return m.ProcessEvents().OnSpawn(id, fromRecord(rec))
			}
			return nil
		},
		OnReady: func(id string, rec process.Record) {
			if m := r.m.Load(); m != nil {
				m.ProcessEvents().OnReady(id, fromRecord(rec))
			}
		},
		OnExit: func(id string, info process.ExitInfo) {
			if m := r.m.Load(); m != nil {
				m.ProcessEvents().OnExit(id, project.ProcExit{ExitCode: info.ExitCode, Signal: info.Signal, Cause: info.Cause,
					Message: info.Message, Suggestions: info.Suggestions, LastLines: info.LastLines,
					WillRestart: info.WillRestart, BreakerOpen: info.BreakerOpen, BreakerReason: info.BreakerReason})
			}
		},
		OnRestart: func(id string, attempt int, delay time.Duration) {
			if m := r.m.Load(); m != nil {
				m.ProcessEvents().OnRestart(id, attempt, delay)
			}
		},
	}
}

// Target resolves a project's port for the reverse proxy (proxy.Resolver), so the proxy can
// be built before the manager.
func (r *ManagerRef) Target(projectID string) (int, bool) {
	if m := r.m.Load(); m != nil {
		return m.Target(projectID)
	}
	return 0, false
}
