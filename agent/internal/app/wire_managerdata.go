package app

import (
	"context"
	"runtime/debug"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/managerdata"
)

// managerRefreshCheck is how often a running agent looks whether its Manager data has passed
// manager.max_age (it refetches only then).
const managerRefreshCheck = time.Hour

// wireManagerData builds the one ComfyUI-Manager data component that the workflow parser and
// the comfyui-manager model source share, and reports it in /api/health. The cache is read (and
// the files it lacks fetched) in the background once the agent serves; analyses wait for that
// load (bounded) meanwhile.
func (a *App) wireManagerData() error {
	data := managerdata.New(managerdata.OptionsFromConfig(a.cfg))
	a.managerData = data
	checked := make(chan struct{})
	a.managerChecked = checked
	log := a.log.With("component", "manager-data")
	a.api.AddHealth("manager_data", func() (bool, any) {
		ok, st := data.Healthy()
		return ok, st
	})
	a.whenServing(func(ctx context.Context) {
		// Analyses on a fresh node wait (bounded) for the first fetch, not only the cache.
		_, loadErr, fetchErr := data.Start(ctx)
		if loadErr != nil {
			log.Warn("ComfyUI-Manager data cache partly unreadable", "dir", data.CacheDir(), "err", loadErr)
		}
		// Parsing 7 MB of JSON leaves garbage several times the index's size: give it back now
		// rather than carry it as idle RSS until the scavenger gets to it.
		debug.FreeOSMemory()
		tick := time.NewTicker(managerRefreshCheck)
		defer tick.Stop()
		for first := true; ; first = false {
			var err error
			if first {
				err = fetchErr
			} else if fetched, ferr := data.RefreshIfStale(ctx); ferr != nil {
				err = ferr
			} else if fetched {
				debug.FreeOSMemory()
			}
			if err != nil {
				log.Warn("refresh ComfyUI-Manager data (the cached copy stays in use)", "err", err)
			}
			if first {
				close(checked)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return nil
}
