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
		restoreGC := relaxGCForLoad()
		_, loadErr, fetchErr := data.Start(ctx)
		if loadErr != nil {
			log.Warn("ComfyUI-Manager data cache partly unreadable", "dir", data.CacheDir(), "err", loadErr)
		}
		// Parsing 7 MB of JSON leaves garbage several times the index's size: give it back now
		// rather than carry it as idle RSS until the scavenger gets to it.
		debug.FreeOSMemory()
		restoreGC()
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

// loadGCPercent is the GC percent while the Manager data loads. At the default 100 the parse
// runs a dozen GC cycles, and the background scavenger, returning pages as the heap shrinks
// between them, leaves some free pages that the forced scavenge after the load no longer
// finds: measured, about one start in four kept 2-3 MB more idle RSS. With the headroom
// the background scavenger stays idle during the load and FreeOSMemory returns everything; the
// higher peak (52 MB instead of 41 MB with the corpus cache) lasts the load and the first
// fetch, and is given back with them.
const loadGCPercent = 400

// relaxGCForLoad raises the GC percent to loadGCPercent (never lowering it, leaving a GC that
// is off alone) and returns what restores it.
func relaxGCForLoad() (restore func()) {
	prev := debug.SetGCPercent(loadGCPercent)
	if prev < 0 || prev > loadGCPercent {
		debug.SetGCPercent(prev)
	}
	return func() { debug.SetGCPercent(prev) }
}
