package project

import (
	"context"
	"fmt"

	"github.com/comfylauncher/launcher/agent/internal/gpu"
)

// restore reconciles persisted records with reality after an agent (re)start: live ComfyUI
// processes are re-adopted (pid, start time and port checked by the supervisor), dead ones
// become ready (stopped) or are restarted per policy, and interrupted installs continue.
// No project is left "running" with a dead process or stuck in an install step.
//
// A process is recorded as soon as it is spawned, so one that was still starting when the
// agent died is found too. A recorded process of a project that is not meant to run (it was
// stopping, or the record says ready, failed or installing) is ended before the state is
// restored: no ComfyUI runs untracked.
func (m *Manager) restore(ctx context.Context) {
	for _, p := range m.List() {
		if p.Process != nil {
			if p.State == StateRunning || p.State == StateStarting {
				m.readopt(ctx, p)
				continue
			}
			m.endRecorded(ctx, p)
			if np, err := m.Get(p.ID); err == nil {
				p = np
			}
		}
		switch {
		case p.State.Installing():
			m.resumeInstall(ctx, p)
		case p.State == StateStarting || p.State == StateStopping || p.State == StateRunning:
			if _, err := m.setState(p.ID, StateReady); err != nil {
				m.log.Error("restore project state", "project", p.ID, "err", err)
			}
		}
	}
}

// endRecorded ends the recorded process of a project that is not meant to run: the
// supervisor takes it over only if it is still ours (pid with the recorded start time), then
// stops its group. The record is cleared either way.
func (m *Manager) endRecorded(ctx context.Context, p Project) {
	rec := *p.Process
	var pl gpu.Placement
	if p.Placement != nil {
		pl = *p.Placement
	}
	if err := m.deps.Supervisor.Adopt(ctx, m.procSpec(p, rec.Port, pl), rec); err == nil {
		m.logs.Add(p.ID, LevelWarning, fmt.Sprintf("agent restarted: stopping ComfyUI (pid %d) left running while the project was %s", rec.PID, p.State), nil)
		if err := m.deps.Supervisor.Stop(ctx, p.ID); err != nil {
			m.log.Warn("stop a process left running", "project", p.ID, "pid", rec.PID, "err", err)
		}
	}
	if _, err := m.update(p.ID, func(p *Project) { p.Process, p.Placement = nil, nil }); err != nil {
		m.log.Error("clear process record", "project", p.ID, "err", err)
	}
}

// resumeInstall lets the durable runner continue an install it knows about, and resubmits
// one it does not (a lost operation); finished steps are skipped.
func (m *Manager) resumeInstall(ctx context.Context, p Project) {
	if p.InstallOp != "" {
		if st, ok := m.ops.Status(p.InstallOp); ok {
			switch st {
			case "pending", "in_progress", "recovering":
				m.logs.Add(p.ID, LevelInfo, "agent restarted: install resumes at "+string(p.State), nil)
				return
			case "success":
				if err := m.finishInstall(p.ID); err != nil {
					m.log.Error("finish install", "project", p.ID, "err", err)
				}
				return
			}
		}
	}
	m.logs.Add(p.ID, LevelInfo, "agent restarted: resuming install at "+string(p.State), nil)
	_, e, err := m.get(p.ID)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := m.submitInstall(ctx, p.ID); err != nil {
		if _, ferr := m.fail(p.ID, string(p.State), err, true); ferr != nil {
			m.log.Error("record a failed install resumption", "project", p.ID, "install_error", err, "err", ferr)
		}
	}
}

func (m *Manager) readopt(ctx context.Context, p Project) {
	rec := *p.Process
	var pl gpu.Placement
	if p.Placement != nil {
		pl = *p.Placement
	}
	spec := m.procSpec(p, rec.Port, pl)
	err := m.deps.Supervisor.Adopt(ctx, spec, rec)
	if err == nil {
		if perr := m.deps.Ports.Restore(p.ID, rec.Port); perr != nil {
			m.log.Warn("restore port lease", "project", p.ID, "port", rec.Port, "err", perr)
		}
		if m.deps.GPUs != nil {
			m.deps.GPUs.Restore(p.ID, pl, rec.PGID)
		}
		m.flushLogs()
		np, uerr := m.update(p.ID, func(p *Project) {
			p.State = StateRunning
			p.StatusMessage = statusMessages[StateRunning]
		})
		if uerr != nil {
			m.log.Error("record a re-adopted ComfyUI", "project", p.ID, "pid", rec.PID, "err", uerr)
		}
		m.publishState(np)
		m.logs.Add(p.ID, LevelInfo, fmt.Sprintf("agent restarted: re-adopted ComfyUI (pid %d, port %d)", rec.PID, rec.Port), nil)
		return
	}
	m.logs.Add(p.ID, LevelWarning, fmt.Sprintf("agent restarted: ComfyUI (pid %d) is gone: %v", rec.PID, err), nil)
	np, uerr := m.update(p.ID, func(p *Project) {
		p.Process, p.Placement = nil, nil
		p.State = StateReady
		p.StatusMessage = statusMessages[StateReady]
	})
	if uerr != nil {
		m.log.Error("record a ComfyUI gone while the agent was down", "project", p.ID, "pid", rec.PID, "err", uerr)
	}
	m.publishState(np)
	if p.Restart == RestartAlways || p.Restart == RestartOnFailure || p.Desired == "running" {
		m.bg.Add(1)
		go func() {
			defer m.bg.Done()
			if _, err := m.StartProject(ctx, p.ID); err != nil {
				m.log.Warn("restart after agent restart", "project", p.ID, "err", err)
			}
		}()
	}
}
