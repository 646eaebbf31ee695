package project

import (
	"context"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/events"
)

// This file is the Manager's API: each method hands the call to the part that does the work.

// List returns every project, most recently changed first.
func (m *Manager) List() []Project { return m.recs.list() }

// Get returns one project.
func (m *Manager) Get(id string) (Project, error) {
	p, _, err := m.recs.get(id)
	return p, err
}

// Dir is the folder of a project (<data_dir>/projects/<id>).
func (m *Manager) Dir(id string) string { return m.layout.dir(id) }

// Create records a new project and submits its install. LauncherJSON wins over Template;
// neither means plain ComfyUI.
func (m *Manager) Create(ctx context.Context, req CreateRequest) (Project, error) {
	return m.creator.create(ctx, req)
}

// Import creates a project from an import (POST /api/import_project): a launcher JSON as it
// is, or a workflow that the importer converts into one (refusing missing models unless the
// request skips their validation). req carries the name and run settings; its template and
// launcher JSON are replaced by the import.
func (m *Manager) Import(ctx context.Context, req CreateRequest, imp ImportRequest) (Project, error) {
	return m.creator.importProject(ctx, req, imp)
}

// Templates lists the available templates, "empty" first.
func (m *Manager) Templates() []Template { return m.templates.list() }

// StartProject starts ComfyUI and waits until it answers. A failure leaves the project
// failed with the cause and suggestions, and the error is returned.
func (m *Manager) StartProject(ctx context.Context, id string) (Project, error) {
	return m.procs.start(ctx, id)
}

// StopProject stops ComfyUI (SIGTERM to its group, then SIGKILL after the grace period).
func (m *Manager) StopProject(ctx context.Context, id string) (Project, error) {
	return m.procs.stop(ctx, id)
}

// RestartProject stops (if running) and starts again.
func (m *Manager) RestartProject(ctx context.Context, id string) (Project, error) {
	return m.procs.restart(ctx, id)
}

// Retry re-runs a failed project: its install from the failed step, or a start that failed.
func (m *Manager) Retry(ctx context.Context, id string) (Project, error) {
	p, e, err := m.recs.get(id)
	if err != nil {
		return p, err
	}
	if p.State != StateFailed {
		return p, apierr.Newf(apierr.Conflict, "InvalidStateError", "project %q is %s, not failed", id, p.State).
			Suggest("Only failed projects are retried")
	}
	if p.Installed {
		return m.procs.start(ctx, id)
	}
	return m.install.retry(ctx, p, e)
}

// Delete cancels an install, stops the process and removes the project and its logs. Shared
// models stay.
func (m *Manager) Delete(ctx context.Context, id string) error { return m.remover.remove(ctx, id) }

// Logs returns one page of a project's log entries, oldest first, optionally only those of
// one level.
func (m *Manager) Logs(id string, page, perPage int, level string) ([]LogEntry, Pagination, error) {
	return m.logs.Page(id, page, perPage, level)
}

// PruneLogs applies r at time now: old and excess ComfyUI run logs of every project (never
// the log the current process writes, nor a project's newest one), then old and excess
// entries of the logs bucket. Errors of single files are joined; the pass goes on.
func (m *Manager) PruneLogs(now time.Time, r LogRetention) (PruneReport, error) {
	return m.pruner.prune(now, r)
}

// ProgressSnapshot is the current progress of a project, for a new subscriber.
func (m *Manager) ProgressSnapshot(projectID string) (events.ProjectProgress, bool) {
	pr, ok := m.progress.get(projectID)
	if !ok {
		p, _, err := m.recs.get(projectID)
		if err != nil {
			return events.ProjectProgress{}, false
		}
		pr = Progress{Stage: string(p.State), Progress: 100}
	}
	return events.ProjectProgress{ProjectID: projectID, Progress: pr}, true
}

// Snapshot is the hub's SnapshotFunc for project progress and logs: a new subscriber first
// gets the current progress_update, or the recent log_entry events.
func (m *Manager) Snapshot(kind, id string) []events.Event {
	switch kind {
	case events.KindProject:
		if snap, ok := m.ProgressSnapshot(id); ok {
			return []events.Event{{Name: events.Progress, Data: snap}}
		}
	case events.KindLogs:
		var out []events.Event
		for _, e := range m.logs.Recent(id) {
			out = append(out, events.Event{Name: events.LogEntry, Data: events.ProjectLog{ProjectID: id, Log: e}})
		}
		return out
	}
	return nil
}

// Health is the "projects" entry of GET /api/health: whether project records and log lines
// are being stored. A state that cannot be recorded would be lost at the next restart.
func (m *Manager) Health() (bool, any) {
	logsOK, logs := m.logs.Health()
	since, err := m.recs.health.failure()
	d := map[string]any{"logs": logs, "records": map[string]any{"ok": err == nil}}
	if err != nil {
		d["records"] = map[string]any{"ok": false, "error": err.Error(), "since": since.UTC().Format(time.RFC3339)}
	}
	return logsOK && err == nil, d
}

// Target returns the port of a running project, for the reverse proxy.
func (m *Manager) Target(projectID string) (int, bool) { return m.targets.target(projectID) }

// ModelsByProject maps project ids to the "folder/name" model paths of their launcher JSON.
func (m *Manager) ModelsByProject() map[string][]string { return m.recs.models.all() }

// ProcessEvents is what the process supervisor's hooks report to.
func (m *Manager) ProcessEvents() *ProcessEvents { return m.events }

// Reconcile runs one pass over the declared projects (the loop runs it every
// ReconcileInterval).
func (m *Manager) Reconcile(ctx context.Context) { m.reconciler.pass(ctx) }

// Reconciled is closed once the desired-state loop has made its first pass over the
// [[projects]] of launcher.toml (at once when the loop is off): readiness waits for it, so an
// orchestrator does not route to an agent that has not yet created its declared projects.
func (m *Manager) Reconciled() <-chan struct{} { return m.reconciler.done() }
