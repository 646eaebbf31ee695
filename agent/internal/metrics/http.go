package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HTTP counts API requests by method, route pattern and status, with a latency histogram.
// The route is the router's pattern (/api/projects/:id), never the raw path, so the number of
// series stays bounded; requests that matched no route share the route "unmatched".
type HTTP struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTP() *HTTP {
	return &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests served, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by method and route pattern.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "route"}),
	}
}

// Observe records one finished request.
func (h *HTTP) Observe(method, route string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	h.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	h.latency.WithLabelValues(method, route).Observe(d.Seconds())
}

// Describe implements prometheus.Collector.
func (h *HTTP) Describe(ch chan<- *prometheus.Desc) {
	h.requests.Describe(ch)
	h.latency.Describe(ch)
}

// Collect implements prometheus.Collector.
func (h *HTTP) Collect(ch chan<- prometheus.Metric) {
	h.requests.Collect(ch)
	h.latency.Collect(ch)
}
