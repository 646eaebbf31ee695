package app

import (
	"context"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/project"
)

// wireLogPruning applies the [log] retention limits to project run logs and the logs bucket
// once at start and then every log.prune_interval.
func (a *App) wireLogPruning() error {
	if a.projects == nil {
		return nil
	}
	c := a.cfg.Log
	r := project.LogRetention{
		RunLogMaxAge: c.RunLogMaxAge.Duration, RunLogMaxBytes: c.RunLogMaxBytes,
		EntriesMaxAge: c.EntriesMaxAge.Duration, EntriesMaxBytes: c.EntriesMaxBytes,
	}
	log := a.log.With("component", "logs")
	a.background(func(ctx context.Context) {
		select { // the projects are loaded and reconciled: their current run logs are known
		case <-a.Ready():
		case <-ctx.Done():
			return
		}
		t := time.NewTicker(c.PruneInterval.Duration)
		defer t.Stop()
		for {
			rep, err := a.projects.PruneLogs(time.Now(), r)
			if err != nil {
				log.Warn("prune project logs", "err", err)
			}
			if rep.RunLogsDeleted > 0 || rep.EntriesDeleted > 0 {
				log.Info("pruned project logs", "run_logs", rep.RunLogsDeleted, "run_log_bytes", rep.RunLogBytes,
					"entries", rep.EntriesDeleted, "entry_bytes", rep.EntryBytes)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return nil
}
