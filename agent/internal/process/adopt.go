package process

import (
	"context"
	"fmt"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// Adopt takes over a process that a previous agent started, described by the persisted rec.
// It succeeds only if rec.PID is alive with rec.StartTime (so a recycled pid is never
// mistaken for ours) and rec.Port answers GET /system_stats, waiting up to spec.ReadyTimeout
// for a server that was still starting. A process that is ours but never answers is killed.
// On success the log is tailed from rec.LogOffset, the pid is polled for liveness (it is not
// our child) and the restart policy applies when it dies. Otherwise the error is an
// *apierr.Error (ProcessGoneError or ComfyUIStartError) and the caller marks the project
// stopped or starts it again.
func (s *Supervisor) Adopt(ctx context.Context, spec Spec, rec Record) error {
	if spec.Port == 0 {
		spec.Port = rec.Port
	}
	spec, err := normalize(spec)
	if err != nil {
		return err
	}
	if rec.PID <= 1 || rec.Port <= 0 {
		return apierr.Newf(apierr.Invalid, "ProcessGoneError", "record of project %s has no pid or port", spec.ProjectID)
	}
	st, err := readProcStat(rec.PID)
	if err != nil || st.State == 'Z' {
		return apierr.Newf(apierr.NotFound, "ProcessGoneError", "ComfyUI of project %s (pid %d) is no longer running", spec.ProjectID, rec.PID).
			Suggest("Start the project again")
	}
	if st.StartTime != rec.StartTime {
		return apierr.Newf(apierr.NotFound, "ProcessGoneError",
			"pid %d now belongs to another process (start time %d, recorded %d): ComfyUI of project %s is gone",
			rec.PID, st.StartTime, rec.StartTime, spec.ProjectID).Suggest("Start the project again")
	}
	p, err := s.register(spec)
	if err != nil {
		return err
	}
	if rec.PGID == 0 {
		rec.PGID = rec.PID
	}
	rec.ProjectID = spec.ProjectID
	inst := &instance{rec: rec, exitCode: -1, exited: make(chan struct{}), stopTail: make(chan struct{})}
	if rec.LogPath != "" {
		if t, err := newTailer(rec.LogPath, rec.LogOffset, s.opt.LastLines, s.opt.Clock, s.emitter(spec.ProjectID)); err == nil {
			inst.tail = t
			go s.tailLoop(inst)
		} else {
			s.log.Warn("cannot tail run log of adopted process", "project", spec.ProjectID, "err", err)
		}
	}
	go s.watchPID(inst)
	s.mu.Lock()
	p.inst = inst
	s.mu.Unlock()

	if why := s.waitReady(ctx, p, inst); why != nil {
		_ = s.terminate(context.Background(), inst, spec.StopGrace)
		info := s.exitInfo(inst, spec)
		s.finish(p)
		e := startError(spec, inst, info, why)
		e.Message = fmt.Sprintf("adopted ComfyUI of project %s (pid %d) does not answer: %s", spec.ProjectID, rec.PID, e.Message)
		return e
	}
	s.drainLog(inst)
	s.mu.Lock()
	p.ready = true
	s.mu.Unlock()
	s.log.Info("comfyui adopted", "project", spec.ProjectID, "pid", rec.PID, "port", rec.Port)
	go s.supervise(p, inst)
	return nil
}

// watchPID closes inst.exited once the adopted pid is gone (or recycled).
func (s *Supervisor) watchPID(inst *instance) {
	interval := 4 * s.opt.PollInterval
	for {
		if !alive(inst.rec.PID, inst.rec.StartTime) {
			close(inst.exited)
			return
		}
		select {
		case <-s.detached:
			return
		case <-s.opt.Clock.After(interval):
		}
	}
}
