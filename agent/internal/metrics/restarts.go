package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Restarts counts ComfyUI restarts by exit cause and tracks which projects' crash-loop
// breakers are open. The supervisor reports these only as events, so the app feeds its
// hooks here.
type Restarts struct {
	restarts *prometheus.CounterVec
	open     *prometheus.Desc

	mu      sync.Mutex
	tripped map[string]bool // project -> breaker open since its last successful start
}

// NewRestarts returns an empty counter set.
func NewRestarts() *Restarts {
	return &Restarts{
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "comfyui_restarts_total",
			Help: "ComfyUI processes restarted by the supervisor after a crash, by the cause read from their last log lines.",
		}, []string{"cause"}),
		open:    desc("comfyui_crash_loop_breakers_open", "Projects whose ComfyUI crashed too often and is no longer restarted until a manual start."),
		tripped: map[string]bool{},
	}
}

// Exit records an unexpected exit of projectID's ComfyUI: a restart when willRestart, an
// open crash-loop breaker when breakerOpen.
func (r *Restarts) Exit(projectID, cause string, willRestart, breakerOpen bool) {
	if cause == "" {
		cause = "unknown"
	}
	if willRestart {
		r.restarts.WithLabelValues(cause).Inc()
	}
	r.mu.Lock()
	if breakerOpen {
		r.tripped[projectID] = true
	}
	r.mu.Unlock()
}

// Ready records that projectID's ComfyUI answers again, which closes its breaker.
func (r *Restarts) Ready(projectID string) {
	r.mu.Lock()
	delete(r.tripped, projectID)
	r.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (r *Restarts) Describe(ch chan<- *prometheus.Desc) {
	r.restarts.Describe(ch)
	ch <- r.open
}

// Collect implements prometheus.Collector.
func (r *Restarts) Collect(ch chan<- prometheus.Metric) {
	r.restarts.Collect(ch)
	r.mu.Lock()
	n := len(r.tripped)
	r.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(r.open, prometheus.GaugeValue, float64(n))
}
