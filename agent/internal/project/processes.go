package project

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/gpu"
)

// processes starts and stops the ComfyUI process of each project through the supervisor,
// with its port lease and GPU placement.
type processes struct {
	recs     *records
	states   *states
	progress *progressBoard
	logs     *logBook
	layout   layout
	log      *slog.Logger

	sup      Supervisor
	ports    Ports
	gpus     GPUs
	importer Importer

	// launchArgs go to every ComfyUI before the project's own.
	launchArgs   []string
	readyTimeout time.Duration
	stopGrace    time.Duration
}

// spec is how the supervisor runs the project's ComfyUI.
func (ps *processes) spec(p Project, port int, pl gpu.Placement) ProcSpec {
	args := append(append(append([]string{}, ps.launchArgs...), pl.ExtraArgs...), p.LaunchArgs...)
	env := map[string]string{}
	for k, v := range pl.Env {
		env[k] = v
	}
	for k, v := range p.Env {
		env[k] = v
	}
	return ProcSpec{
		ProjectID:       p.ID,
		Dir:             ps.layout.comfyUI(p.ID),
		Python:          ps.layout.venvPython(p.ID),
		Port:            port,
		ExtraModelPaths: ps.layout.extraModelPaths(p.ID),
		Args:            args,
		Env:             env,
		LogDir:          filepath.Join(ps.layout.dir(p.ID), "logs"),
		ReadyTimeout:    ps.readyTimeout,
		StopGrace:       ps.stopGrace,
		Restart:         p.Restart,
	}
}

// start starts ComfyUI and waits until it answers. A failure leaves the project failed with
// the cause and suggestions, and the error is returned.
func (ps *processes) start(ctx context.Context, id string) (Project, error) {
	p, e, err := ps.recs.get(id)
	if err != nil {
		return p, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p = ps.recs.current(id)
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
	port, err := ps.ports.Lease(id, p.FixedPort)
	if err != nil {
		ps.logs.Add(id, LevelWarning, "start refused: "+err.Error(), nil)
		return p, err
	}
	var pl gpu.Placement
	if ps.gpus != nil {
		var est int64
		if ps.importer != nil {
			if lj, perr := parseLauncherJSON(p.LauncherJSON); perr == nil && len(lj.WorkflowJSON) > 0 {
				est = ps.importer.EstimateVRAM(lj.WorkflowJSON)
			}
		}
		if pl, err = ps.gpus.Place(ctx, gpu.PlaceRequest{ProjectID: id, Pref: p.GPU, EstimateMB: est}); err != nil {
			ps.ports.Release(id)
			ps.logs.Add(id, LevelWarning, "start refused: "+err.Error(), nil)
			return p, err
		}
	}
	// The placement is recorded with the state: the process record follows as soon as it is
	// spawned (OnSpawn), and re-adoption after an agent restart needs both.
	sp, err := ps.recs.update(id, func(p *Project) {
		p.State = StateStarting
		p.StatusMessage = statusMessages[StateStarting]
		p.Failure = nil
		placed := pl
		p.Placement = &placed
	})
	if err != nil {
		ps.release(id)
		return p, err
	}
	ps.progress.state(sp)
	ps.logs.Add(id, LevelInfo, fmt.Sprintf("starting ComfyUI on port %d", port), map[string]any{"port": port, "gpus": pl.GPUUUIDs})
	rec, err := ps.sup.Start(ctx, ps.spec(p, port, pl))
	// A leased port can be taken between the lease's bind probe and ComfyUI's own bind (another
	// agent, any program): lease another and start again. A fixed port is the user's choice.
	for try := 1; try < leaseTries && p.FixedPort == 0 && isPortInUse(err); try++ {
		ps.ports.Release(id)
		if port, err = ps.ports.Lease(id, 0); err != nil {
			break
		}
		ps.logs.Add(id, LevelWarning, fmt.Sprintf("the leased port was taken by another process; starting ComfyUI on port %d", port), map[string]any{"port": port})
		rec, err = ps.sup.Start(ctx, ps.spec(p, port, pl))
	}
	if err != nil {
		ps.release(id)
		if _, ferr := ps.states.fail(id, stepStart, err, true); ferr != nil {
			err = errors.Join(err, fmt.Errorf("record the failed start: %w", ferr))
		}
		return ps.recs.current(id), err
	}
	if ps.gpus != nil {
		ps.gpus.BindProcess(id, rec.PGID)
	}
	ps.logs.Add(id, LevelInfo, fmt.Sprintf("ComfyUI is running (pid %d, port %d)", rec.PID, rec.Port), nil)
	ps.logs.flush()
	p, err = ps.recs.update(id, func(p *Project) {
		p.State = StateRunning
		p.StatusMessage = statusMessages[StateRunning]
		p.Failure = nil
		r, placed := rec, pl
		p.Process = &r
		p.Placement = &placed
	})
	ps.progress.state(p)
	return p, err
}

// leaseTries is how many leased ports a start tries when each is taken before ComfyUI binds it.
const leaseTries = 3

// isPortInUse reports whether a start failed because the port was taken.
func isPortInUse(err error) bool {
	var e *apierr.Error
	return errors.As(err, &e) && e.Type == "PortInUseError"
}

// release gives back the project's port lease and GPU placement.
func (ps *processes) release(id string) {
	ps.ports.Release(id)
	if ps.gpus != nil {
		ps.gpus.Release(id)
	}
}

// stop stops ComfyUI (SIGTERM to its group, then SIGKILL after the grace period).
func (ps *processes) stop(ctx context.Context, id string) (Project, error) {
	p, e, err := ps.recs.get(id)
	if err != nil {
		return p, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return ps.stopLocked(ctx, id)
}

// stopLocked is stop for a caller that holds the entry's lock.
func (ps *processes) stopLocked(ctx context.Context, id string) (Project, error) {
	p := ps.recs.current(id)
	if p.State != StateRunning && p.State != StateStarting && p.State != StateStopping && p.Process == nil {
		return p, apierr.Newf(apierr.Conflict, "InvalidStateError", "project %q is %s, not running", id, p.State).
			Suggest("Start it with POST /api/projects/" + id + "/start")
	}
	if _, err := ps.states.set(id, StateStopping); err != nil {
		return p, err
	}
	ctx = context.WithoutCancel(ctx)
	if err := ps.sup.Stop(ctx, id); err != nil {
		ps.log.Warn("stop", "project", id, "err", err)
	}
	ps.release(id)
	p, err := ps.recs.update(id, func(p *Project) {
		p.State = StateReady
		p.StatusMessage = statusMessages[StateReady]
		p.Process = nil
		p.Placement = nil
	})
	ps.progress.state(p)
	ps.logs.Add(id, LevelInfo, "ComfyUI stopped", nil)
	return p, err
}

// restart stops (if running) and starts again.
func (ps *processes) restart(ctx context.Context, id string) (Project, error) {
	p, _, err := ps.recs.get(id)
	if err != nil {
		return p, err
	}
	if p.State == StateRunning || p.State == StateStarting || p.Process != nil {
		if _, err := ps.stop(ctx, id); err != nil {
			return p, err
		}
	}
	return ps.start(ctx, id)
}

// saveRecords persists the supervisor's current record (log offset) of every running
// project, so that a re-adopted process does not log its lines twice.
func (ps *processes) saveRecords() {
	for _, p := range ps.recs.list() {
		if p.Process == nil || p.State != StateRunning {
			continue
		}
		rec, ok := ps.sup.Get(p.ID)
		if !ok || rec.PID != p.Process.PID || rec.LogOffset == p.Process.LogOffset {
			continue
		}
		if _, err := ps.recs.update(p.ID, func(p *Project) {
			if p.Process != nil && p.Process.PID == rec.PID {
				r := rec
				p.Process = &r
			}
		}); err != nil {
			// The next agent then re-reads some log lines it already stored.
			ps.log.Warn("save the log offset of a running ComfyUI", "project", p.ID, "err", err)
		}
	}
}
