package app

import (
	"context"
	"path/filepath"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/recovery/recoveryhttp"
)

// wireRecovery builds the operation runner. Subsystems wired after it register their
// operation types on a.recovery; it starts (resuming unfinished operations) once all are
// registered, and stops before the hub and store close.
func (a *App) wireRecovery() error {
	opts := recovery.OptionsFromConfig(a.cfg.Recovery)
	opts.Logger = a.log.With("component", "recovery")
	opts.ScratchDir = filepath.Join(a.cfg.Paths.DataDir, "tmp")
	opts.Extensions = a.ext
	rr := recovery.New(a.db, a.hub, opts)
	a.recovery = rr
	recoveryhttp.Routes(a.api.Router, rr)
	a.wireSelfTest()
	a.snapshots = append(a.snapshots, rr.HubSnapshot)
	a.api.AddHealth("recovery", func() (bool, any) {
		return true, map[string]any{"enabled": a.cfg.Recovery.Enabled, "breakers": rr.Breakers()}
	})
	a.lateStarters = append(a.lateStarters, rr.Start)
	a.stoppers = append(a.stoppers, func(ctx context.Context) error { return rr.Stop(ctx) })
	return nil
}
