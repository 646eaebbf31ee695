package project

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/comfylauncher/launcher/agent/internal/gpu"
)

// restorer reconciles persisted records with reality after an agent (re)start.
type restorer struct {
	recs     *records
	states   *states
	progress *progressBoard
	logs     *logBook
	procs    *processes
	install  *installOps
	log      *slog.Logger
	// bg tracks the restarts it begins, so the manager's Stop can wait for them.
	bg *sync.WaitGroup
}

// restore reconciles persisted records with reality after an agent (re)start: live ComfyUI
// processes are re-adopted (pid, start time and port checked by the supervisor), dead ones
// become ready (stopped) or are restarted per policy, and interrupted installs continue.
// No project is left "running" with a dead process or stuck in an install step.
//
// A process is recorded as soon as it is spawned, so one that was still starting when the
// agent died is found too. A recorded process of a project that is not meant to run (it was
// stopping, or the record says ready, failed or installing) is ended before the state is
// restored: no ComfyUI runs untracked.
func (rs *restorer) restore(ctx context.Context) {
	for _, p := range rs.recs.list() {
		if p.Process != nil {
			if p.State == StateRunning || p.State == StateStarting {
				rs.readopt(ctx, p)
				continue
			}
			rs.endRecorded(ctx, p)
			if np, _, err := rs.recs.get(p.ID); err == nil {
				p = np
			}
		}
		switch {
		case p.State.Installing():
			rs.install.resume(ctx, p)
		case p.State == StateStarting || p.State == StateStopping || p.State == StateRunning:
			if _, err := rs.states.set(p.ID, StateReady); err != nil {
				rs.log.Error("restore project state", "project", p.ID, "err", err)
			}
		}
	}
}

// endRecorded ends the recorded process of a project that is not meant to run: the
// supervisor takes it over only if it is still ours (pid with the recorded start time), then
// stops its group. The record is cleared either way.
func (rs *restorer) endRecorded(ctx context.Context, p Project) {
	rec := *p.Process
	var pl gpu.Placement
	if p.Placement != nil {
		pl = *p.Placement
	}
	if err := rs.procs.sup.Adopt(ctx, rs.procs.spec(p, rec.Port, pl), rec); err == nil {
		rs.logs.Add(p.ID, LevelWarning, fmt.Sprintf("agent restarted: stopping ComfyUI (pid %d) left running while the project was %s", rec.PID, p.State), nil)
		if err := rs.procs.sup.Stop(ctx, p.ID); err != nil {
			rs.log.Warn("stop a process left running", "project", p.ID, "pid", rec.PID, "err", err)
		}
	}
	if _, err := rs.recs.update(p.ID, func(p *Project) { p.Process, p.Placement = nil, nil }); err != nil {
		rs.log.Error("clear process record", "project", p.ID, "err", err)
	}
}

// readopt takes over a live ComfyUI of a project that was starting or running; a gone one
// makes the project ready and is started again per its restart policy.
func (rs *restorer) readopt(ctx context.Context, p Project) {
	rec := *p.Process
	var pl gpu.Placement
	if p.Placement != nil {
		pl = *p.Placement
	}
	spec := rs.procs.spec(p, rec.Port, pl)
	err := rs.procs.sup.Adopt(ctx, spec, rec)
	if err == nil {
		if perr := rs.procs.ports.Restore(p.ID, rec.Port); perr != nil {
			rs.log.Warn("restore port lease", "project", p.ID, "port", rec.Port, "err", perr)
		}
		if rs.procs.gpus != nil {
			rs.procs.gpus.Restore(p.ID, pl, rec.PGID)
		}
		rs.logs.flush()
		np, uerr := rs.recs.update(p.ID, func(p *Project) {
			p.State = StateRunning
			p.StatusMessage = statusMessages[StateRunning]
		})
		if uerr != nil {
			rs.log.Error("record a re-adopted ComfyUI", "project", p.ID, "pid", rec.PID, "err", uerr)
		}
		rs.progress.state(np)
		rs.logs.Add(p.ID, LevelInfo, fmt.Sprintf("agent restarted: re-adopted ComfyUI (pid %d, port %d)", rec.PID, rec.Port), nil)
		return
	}
	rs.logs.Add(p.ID, LevelWarning, fmt.Sprintf("agent restarted: ComfyUI (pid %d) is gone: %v", rec.PID, err), nil)
	np, uerr := rs.recs.update(p.ID, func(p *Project) {
		p.Process, p.Placement = nil, nil
		p.State = StateReady
		p.StatusMessage = statusMessages[StateReady]
	})
	if uerr != nil {
		rs.log.Error("record a ComfyUI gone while the agent was down", "project", p.ID, "pid", rec.PID, "err", uerr)
	}
	rs.progress.state(np)
	if p.Restart == RestartAlways || p.Restart == RestartOnFailure || p.Desired == "running" {
		rs.bg.Add(1)
		go func() {
			defer rs.bg.Done()
			if _, err := rs.procs.start(ctx, p.ID); err != nil {
				rs.log.Warn("restart after agent restart", "project", p.ID, "err", err)
			}
		}()
	}
}
