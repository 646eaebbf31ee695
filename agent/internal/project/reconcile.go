package project

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// maxDesiredAttempts bounds how often, per agent run, the reconcile loop retries a failed
// declared project before leaving it failed for an operator.
const maxDesiredAttempts = 3

// declaredActions are the project actions the reconciler takes (the Manager's).
type declaredActions interface {
	Create(ctx context.Context, req CreateRequest) (Project, error)
	Retry(ctx context.Context, id string) (Project, error)
	StartProject(ctx context.Context, id string) (Project, error)
	StopProject(ctx context.Context, id string) (Project, error)
}

// reconciler keeps the [[projects]] of launcher.toml in their declared state: it creates the
// missing ones, starts or stops them as declared, applies edited run settings and retries a
// failed one a few times.
type reconciler struct {
	desired []DesiredProject
	// interval is the loop's period; negative turns the loop off.
	interval time.Duration
	actions  declaredActions
	recs     *records
	logs     *logBook
	procs    *processes
	log      *slog.Logger
	// reconciled closes after the first pass over the declared projects (readiness).
	reconciled chan struct{}
}

// loop reconciles every interval and, on the same tick, saves how far each ComfyUI log has
// been read, so that a re-adopted process does not log its lines twice.
func (rc *reconciler) loop(ctx context.Context) {
	defer rc.markReconciled()
	if rc.interval < 0 {
		return
	}
	attempts := map[string]int{}
	t := time.NewTicker(rc.interval)
	defer t.Stop()
	for {
		for _, d := range rc.desired {
			if ctx.Err() != nil {
				return
			}
			rc.reconcile(ctx, d, attempts)
		}
		rc.markReconciled()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rc.procs.saveRecords()
		}
	}
}

// pass runs one pass over the declared projects.
func (rc *reconciler) pass(ctx context.Context) {
	attempts := map[string]int{}
	for _, d := range rc.desired {
		rc.reconcile(ctx, d, attempts)
	}
}

// reconcile moves one declared project toward its declared state; attempts counts the
// retries of failed ones in this run.
func (rc *reconciler) reconcile(ctx context.Context, d DesiredProject, attempts map[string]int) {
	p, _, err := rc.recs.get(d.ID)
	if apierr.Is(err, apierr.NotFound) {
		req, rerr := desiredRequest(d)
		if rerr != nil {
			rc.log.Error("declared project", "project", d.ID, "err", rerr)
			return
		}
		if _, err := rc.actions.Create(ctx, req); err != nil {
			rc.log.Error("create declared project", "project", d.ID, "err", err)
		}
		return
	}
	if err != nil {
		return
	}
	rc.applySettings(d, p)
	switch {
	case p.State == StateFailed:
		if attempts[d.ID] >= maxDesiredAttempts {
			return
		}
		attempts[d.ID]++
		rc.logs.Add(d.ID, LevelInfo, fmt.Sprintf("declared project failed: retry %d of %d", attempts[d.ID], maxDesiredAttempts), nil)
		if _, err := rc.actions.Retry(ctx, d.ID); err != nil {
			rc.log.Warn("retry declared project", "project", d.ID, "err", err)
		}
	case d.State == "running" && p.State == StateReady:
		if _, err := rc.actions.StartProject(ctx, d.ID); err != nil {
			rc.log.Warn("start declared project", "project", d.ID, "err", err)
		}
	case d.State == "stopped" && p.State == StateRunning:
		if _, err := rc.actions.StopProject(ctx, d.ID); err != nil {
			rc.log.Warn("stop declared project", "project", d.ID, "err", err)
		}
	case p.State == StateRunning:
		delete(attempts, d.ID)
	}
}

// applySettings copies run settings edited in launcher.toml onto the record; they take
// effect at the next start.
func (rc *reconciler) applySettings(d DesiredProject, p Project) {
	restart := d.Restart
	if restart == "" {
		restart = RestartOnFailure
	}
	if p.FixedPort == d.Port && p.Restart == restart && p.GPU.String() == d.GPU.String() &&
		slices.Equal(p.LaunchArgs, d.LaunchArgs) && mapsEqual(p.Env, d.Env) && p.Desired == d.State {
		return
	}
	if _, err := rc.recs.update(d.ID, func(p *Project) {
		p.FixedPort, p.Restart, p.GPU, p.LaunchArgs, p.Env, p.Desired = d.Port, restart, d.GPU, d.LaunchArgs, d.Env, d.State
	}); err != nil {
		rc.log.Error("apply the declared settings of a project", "project", d.ID, "err", err)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// desiredRequest is the create request of a declared project.
func desiredRequest(d DesiredProject) (CreateRequest, error) {
	req := CreateRequest{ID: d.ID, Name: d.Name, Template: d.Template, Port: d.Port, GPU: d.GPU,
		Restart: d.Restart, LaunchArgs: d.LaunchArgs, Env: d.Env, Desired: d.State}
	if d.LauncherJSON != "" {
		raw, err := os.ReadFile(d.LauncherJSON)
		if err != nil {
			return req, fmt.Errorf("read launcher_json: %w", err)
		}
		if !json.Valid(raw) {
			return req, fmt.Errorf("launcher_json %s is not valid JSON", d.LauncherJSON)
		}
		req.LauncherJSON = raw
	}
	return req, nil
}

// done is closed once the desired-state loop has made its first pass over the
// [[projects]] of launcher.toml (at once when the loop is off): readiness waits for it, so an
// orchestrator does not route to an agent that has not yet created its declared projects.
func (rc *reconciler) done() <-chan struct{} { return rc.reconciled }

func (rc *reconciler) markReconciled() {
	select {
	case <-rc.reconciled:
	default:
		close(rc.reconciled)
	}
}
