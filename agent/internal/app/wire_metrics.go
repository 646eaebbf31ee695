package app

import (
	"net/http"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/agent/internal/metrics"
	"github.com/comfylauncher/launcher/agent/internal/process"
	"github.com/prometheus/client_golang/prometheus"
)

// metricsPath serves the Prometheus exposition format, behind the API token like every
// other route (a scraper sends it as a bearer token).
const metricsPath = "/metrics"

// wireMetrics registers the collectors that read each subsystem at scrape time. Call it after
// every subsystem is wired.
func (a *App) wireMetrics() error {
	cs := []prometheus.Collector{
		metrics.Hub(a.hub),
		metrics.Operations(a.recovery),
		metrics.Downloads(a.models.DownloadOps),
		metrics.Store(a.models.Storage),
		metrics.Extensions(extensionStats{a.ext}),
	}
	if a.projects != nil {
		cs = append(cs, metrics.Projects(a.projects))
	}
	if a.gpu != nil {
		cs = append(cs, metrics.GPUs(a.gpu))
	}
	for _, c := range cs {
		if err := a.metrics.Register(c); err != nil {
			return err
		}
	}
	a.api.Router.Handler(http.MethodGet, metricsPath, a.metrics.Handler())
	return nil
}

// extensionStats reads the extension registry's call statistics for /metrics.
type extensionStats struct{ reg *extension.Registry }

func (e extensionStats) ExtensionStats() []metrics.ExtensionStat {
	var out []metrics.ExtensionStat
	for _, s := range e.reg.List() {
		out = append(out, metrics.ExtensionStat{
			Name:    s.ID,
			Kind:    string(s.Transport),
			Calls:   uint64(s.Stats.Calls),
			Errors:  uint64(s.Stats.Errors),
			Latency: time.Duration(s.Stats.TotalSeconds * float64(time.Second)),
		})
	}
	return out
}

// countRestarts wraps the supervisor hooks so that restarts and crash-loop breakers are
// counted for /metrics before the project manager sees them.
func (a *App) countRestarts(h process.Hooks) process.Hooks {
	r := a.metrics.Restarts
	onExit, onReady := h.OnExit, h.OnReady
	h.OnExit = func(id string, info process.ExitInfo) {
		r.Exit(id, info.Cause, info.WillRestart, info.BreakerOpen)
		if onExit != nil {
			onExit(id, info)
		}
	}
	h.OnReady = func(id string, rec process.Record) {
		r.Ready(id)
		if onReady != nil {
			onReady(id, rec)
		}
	}
	return h
}
