package project

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// ProcessEvents receives what the process supervisor reports about ComfyUI processes (their
// output, spawn, readiness, exits and restarts) and keeps the project records and logs in
// step with them. Manager.ProcessEvents returns the manager's.
type ProcessEvents struct {
	recs     *records
	states   *states
	progress *progressBoard
	logs     *logBook
	log      *slog.Logger
	// release gives back the port and GPUs of a process that ended for good.
	release func(projectID string)
}

// OnLog receives ComfyUI output lines.
func (pe *ProcessEvents) OnLog(projectID string, t time.Time, level, msg string) {
	pe.logs.AddAt(projectID, t, level, msg, map[string]any{"source": "comfyui"})
}

// OnSpawn records a spawned ComfyUI before anyone waits for it to answer, so that an agent
// killed meanwhile finds it again (or ends it) instead of starting a second one. An error
// makes the supervisor stop the process.
func (pe *ProcessEvents) OnSpawn(projectID string, rec ProcRecord) error {
	_, err := pe.recs.update(projectID, func(p *Project) {
		r := rec
		p.Process = &r
	})
	return err
}

// OnReady records a (re)started process.
func (pe *ProcessEvents) OnReady(projectID string, rec ProcRecord) {
	pe.logs.flush()
	p, err := pe.recs.update(projectID, func(p *Project) {
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
		pe.log.Error("record a ready ComfyUI", "project", projectID, "pid", rec.PID, "err", err)
		return
	}
	pe.progress.state(p)
}

// OnExit records an unexpected exit. A process the supervisor restarts keeps the project in
// starting; a final exit is the failed state with the cause, never "running".
func (pe *ProcessEvents) OnExit(projectID string, info ProcExit) {
	p, _, err := pe.recs.get(projectID)
	if err != nil || p.State == StateStopping || p.Process == nil {
		return // deleted, being stopped, or already stopped: not a crash
	}
	msg := info.Message
	if msg == "" {
		msg = fmt.Sprintf("ComfyUI exited (code %d %s)", info.ExitCode, info.Signal)
	}
	if info.WillRestart {
		pe.logs.Add(projectID, LevelWarning, msg+": restarting", map[string]any{"cause": info.Cause})
		p, err = pe.recs.update(projectID, func(p *Project) {
			p.State = StateStarting
			p.StatusMessage = "Restarting after a crash..."
		})
		if err != nil {
			pe.log.Error("record a ComfyUI restart", "project", projectID, "err", err)
			return
		}
		pe.progress.state(p)
		return
	}
	pe.release(projectID)
	if info.BreakerReason != "" {
		msg += " (" + info.BreakerReason + ")"
	}
	e := apierr.New(apierr.Unavailable, "ProcessExitedError", msg, info.Suggestions...)
	if info.Cause != "" {
		e.Type = "ProcessExitedError:" + info.Cause
	}
	// fail also clears the process record.
	if _, err := pe.states.fail(projectID, stepRun, e, true); err != nil {
		pe.log.Error("record a ComfyUI exit", "project", projectID, "exit_code", info.ExitCode, "err", err)
	}
}

// OnRestart logs a restart the supervisor scheduled after a crash.
func (pe *ProcessEvents) OnRestart(projectID string, attempt int, delay time.Duration) {
	pe.logs.Add(projectID, LevelWarning, fmt.Sprintf("restarting ComfyUI in %s (attempt %d)", delay.Round(time.Millisecond), attempt),
		map[string]any{"attempt": attempt})
}
