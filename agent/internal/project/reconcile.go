package project

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// maxDesiredAttempts bounds how often, per agent run, the reconcile loop retries a failed
// declared project before leaving it failed for an operator.
const maxDesiredAttempts = 3

// reconcileLoop keeps [[projects]] of launcher.toml in their declared state and, on the same
// tick, saves how far each ComfyUI log has been read, so that a re-adopted process does not
// log its lines twice.
func (m *Manager) reconcileLoop(ctx context.Context) {
	defer m.markReconciled()
	if m.opts.ReconcileInterval < 0 {
		return
	}
	attempts := map[string]int{}
	t := time.NewTicker(m.opts.ReconcileInterval)
	defer t.Stop()
	for {
		for _, d := range m.opts.Desired {
			if ctx.Err() != nil {
				return
			}
			m.reconcile(ctx, d, attempts)
		}
		m.markReconciled()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.saveProcessRecords()
		}
	}
}

// saveProcessRecords persists the supervisor's current record (log offset) of every running
// project.
func (m *Manager) saveProcessRecords() {
	for _, p := range m.List() {
		if p.Process == nil || p.State != StateRunning {
			continue
		}
		rec, ok := m.deps.Supervisor.Get(p.ID)
		if !ok || rec.PID != p.Process.PID || rec.LogOffset == p.Process.LogOffset {
			continue
		}
		_, _ = m.update(p.ID, func(p *Project) {
			if p.Process != nil && p.Process.PID == rec.PID {
				r := rec
				p.Process = &r
			}
		})
	}
}

// Reconcile runs one pass over the declared projects (also used by tests).
func (m *Manager) Reconcile(ctx context.Context) {
	attempts := map[string]int{}
	for _, d := range m.opts.Desired {
		m.reconcile(ctx, d, attempts)
	}
}

func (m *Manager) reconcile(ctx context.Context, d DesiredProject, attempts map[string]int) {
	p, err := m.Get(d.ID)
	if apierr.Is(err, apierr.NotFound) {
		req, rerr := m.desiredRequest(d)
		if rerr != nil {
			m.log.Error("declared project", "project", d.ID, "err", rerr)
			return
		}
		if _, err := m.Create(ctx, req); err != nil {
			m.log.Error("create declared project", "project", d.ID, "err", err)
		}
		return
	}
	if err != nil {
		return
	}
	m.applyDesiredSettings(d, p)
	switch {
	case p.State == StateFailed:
		if attempts[d.ID] >= maxDesiredAttempts {
			return
		}
		attempts[d.ID]++
		m.logs.Add(d.ID, LevelInfo, fmt.Sprintf("declared project failed: retry %d of %d", attempts[d.ID], maxDesiredAttempts), nil)
		if _, err := m.Retry(ctx, d.ID); err != nil {
			m.log.Warn("retry declared project", "project", d.ID, "err", err)
		}
	case d.State == "running" && p.State == StateReady:
		if _, err := m.StartProject(ctx, d.ID); err != nil {
			m.log.Warn("start declared project", "project", d.ID, "err", err)
		}
	case d.State == "stopped" && p.State == StateRunning:
		if _, err := m.StopProject(ctx, d.ID); err != nil {
			m.log.Warn("stop declared project", "project", d.ID, "err", err)
		}
	case p.State == StateRunning:
		delete(attempts, d.ID)
	}
}

// applyDesiredSettings copies run settings edited in launcher.toml onto the record; they take
// effect at the next start.
func (m *Manager) applyDesiredSettings(d DesiredProject, p Project) {
	restart := d.Restart
	if restart == "" {
		restart = RestartOnFailure
	}
	if p.FixedPort == d.Port && p.Restart == restart && p.GPU.String() == d.GPU.String() &&
		slices.Equal(p.LaunchArgs, d.LaunchArgs) && mapsEqual(p.Env, d.Env) && p.Desired == d.State {
		return
	}
	_, _ = m.update(d.ID, func(p *Project) {
		p.FixedPort, p.Restart, p.GPU, p.LaunchArgs, p.Env, p.Desired = d.Port, restart, d.GPU, d.LaunchArgs, d.Env, d.State
	})
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

func (m *Manager) desiredRequest(d DesiredProject) (CreateRequest, error) {
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
