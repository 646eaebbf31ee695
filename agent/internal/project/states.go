package project

import (
	"errors"
	"fmt"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// states moves projects between lifecycle states: each change is recorded and published, and
// a failure is logged with the step, the error and what to do.
type states struct {
	recs     *records
	progress *progressBoard
	logs     *logBook
	now      func() time.Time
	// repo and python name the configured sources in a failed step's suggestions.
	repo, python string
}

// set moves a project to s with its UI message and clears a stale failure.
func (s *states) set(id string, st State) (Project, error) {
	p, err := s.recs.update(id, func(p *Project) {
		p.State = st
		p.StatusMessage = statusMessages[st]
		if st != StateFailed {
			p.Failure = nil
		}
	})
	if err == nil {
		s.progress.state(p)
	}
	return p, err
}

// fail moves a project to failed with the step, the error and suggestions.
func (s *states) fail(id, step string, err error, retryable bool) (Project, error) {
	f := &Failure{Step: step, Error: err.Error(), Retryable: retryable, Time: s.now().UTC()}
	var ae *apierr.Error
	if errors.As(err, &ae) {
		f.Type = ae.Type
		f.Suggestions = append(f.Suggestions, ae.Suggestions...)
	}
	f.Suggestions = append(f.Suggestions, s.suggestions(step, id)...)
	p, uerr := s.recs.update(id, func(p *Project) {
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
	s.logs.Add(id, LevelError, fmt.Sprintf("%s failed: %s", step, f.Error), map[string]any{"step": step, "suggestions": f.Suggestions})
	if uerr == nil {
		s.progress.state(p)
	}
	return p, uerr
}

// suggestions are what to do when a step fails.
func (s *states) suggestions(step, id string) []string {
	logs := fmt.Sprintf("Read the log: GET /api/logs/%s?level=error", id)
	retry := fmt.Sprintf("Retry with POST /api/projects/%s/retry", id)
	switch step {
	case stepDownloadComfyUI:
		return []string{fmt.Sprintf("Check that comfyui.repo (%s) is reachable from this machine and that the ref exists", s.repo), logs, retry}
	case stepInstallComfyUI:
		return []string{fmt.Sprintf("Check that comfyui.python (%s) is Python 3.10+ with the venv module (Debian/Ubuntu: apt install python3-venv)", s.python),
			"Set comfyui.pip_args, e.g. [\"--index-url\", \"https://download.pytorch.org/whl/cu124\"] for your CUDA build", logs, retry}
	case stepInstallCustomNodes:
		return []string{"A custom node failed to clone or install; the log names it", logs, retry}
	case stepDownloadFiles:
		return []string{logs, retry}
	case stepStart, stepRun:
		return []string{logs, fmt.Sprintf("Start it again with POST /api/projects/%s/start", id)}
	}
	return []string{logs}
}
