// Package metrics exposes the agent's state to Prometheus. Collectors read the domain
// packages at scrape time through small interfaces that those packages already satisfy
// (hub.Hub, recovery.Runner, project.Manager, models.Service, gpu.Manager), so nothing in the
// domain counts for Prometheus' sake. The few facts that exist only as events (HTTP requests,
// ComfyUI restarts) are counted here by hooks the app wires in.
package metrics

import (
	"net/http"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every family the agent exports.
const namespace = "launcher"

// Registry holds the agent's collectors and serves them in the exposition format.
type Registry struct {
	reg *prometheus.Registry
	// HTTP counts requests; the API server reports each finished request to it.
	HTTP *HTTP
	// Restarts counts ComfyUI restarts and open crash-loop breakers from supervisor hooks.
	Restarts *Restarts
}

// New returns a registry with the build info, Go runtime, process, HTTP and restart
// collectors. Add the domain collectors with Register.
func New(version string) *Registry {
	r := &Registry{reg: prometheus.NewRegistry(), HTTP: newHTTP(), Restarts: NewRestarts()}
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(version),
		r.HTTP,
		r.Restarts,
	)
	return r
}

// Register adds collectors (Hub, Operations, Projects, ...); a collector whose families clash
// with one already registered is an error.
func (r *Registry) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := r.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Gatherer is the registry for tests and custom exposition.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves GET /metrics. Collection errors are reported in the log of promhttp's
// choice (none) and the families that could be gathered are still served.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// buildInfo is launcher_build_info{version,commit,go_version} 1.
func buildInfo(version string) prometheus.Collector {
	commit, goVersion := "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels say which build of the agent runs.",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit, "go_version": goVersion},
	})
	g.Set(1)
	return g
}

// desc is a shorthand for a family of this namespace.
func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}
