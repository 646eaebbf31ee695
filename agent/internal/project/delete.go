package project

import (
	"context"
	"log/slog"
	"os"
)

// remover deletes projects: it cancels a running install, stops the process and removes the
// record, the logs and the project folder. Shared models stay.
type remover struct {
	recs     *records
	progress *progressBoard
	logs     *logBook
	layout   layout
	install  *installOps
	procs    *processes
	log      *slog.Logger
}

// remove deletes the project id.
func (r *remover) remove(ctx context.Context, id string) error {
	p, e, err := r.recs.get(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if p.InstallOp != "" && p.State.Installing() {
		r.install.cancel(ctx, id, p.InstallOp)
	}
	if p.Process != nil || p.State == StateRunning || p.State == StateStarting {
		if _, err := r.procs.stopLocked(ctx, id); err != nil {
			r.log.Warn("stop the process of a deleted project", "project", id, "err", err)
		}
	}
	r.progress.forget(id)
	if err := r.recs.remove(id); err != nil {
		return err
	}
	if err := r.logs.Forget(id); err != nil {
		r.log.Warn("delete project logs", "project", id, "err", err)
	}
	// Removing a tree with a venv can take a while; the project is already gone from the API.
	if err := os.RemoveAll(r.layout.dir(id)); err != nil {
		r.log.Warn("remove project folder", "project", id, "err", err)
	}
	return nil
}
