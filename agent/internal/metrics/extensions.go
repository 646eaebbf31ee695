package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ExtensionStat is the running tally of one extension's calls.
type ExtensionStat struct {
	// Name is the extension's id as the registry lists it.
	Name string
	// Kind is the extension's runtime (builtin, wasm, plugin); empty when unknown.
	Kind   string
	Calls  uint64
	Errors uint64
	// Latency is the total time spent in calls.
	Latency time.Duration
}

// ExtensionStats is what the extension registry offers: one tally per extension.
type ExtensionStats interface{ ExtensionStats() []ExtensionStat }

var (
	descExtCalls   = desc("extension_calls_total", "Calls into an extension.", "extension", "kind")
	descExtErrors  = desc("extension_errors_total", "Calls into an extension that failed (error, panic, trap or timeout).", "extension", "kind")
	descExtLatency = desc("extension_call_seconds_total", "Time spent in calls into an extension; divide by calls for the mean latency.", "extension", "kind")
)

// Extensions exports calls, errors and time spent per extension.
func Extensions(src ExtensionStats) prometheus.Collector {
	return &collector{
		descs: []*prometheus.Desc{descExtCalls, descExtErrors, descExtLatency},
		collect: func(ch chan<- prometheus.Metric) {
			for _, s := range src.ExtensionStats() {
				ch <- counter(descExtCalls, float64(s.Calls), s.Name, s.Kind)
				ch <- counter(descExtErrors, float64(s.Errors), s.Name, s.Kind)
				ch <- counter(descExtLatency, s.Latency.Seconds(), s.Name, s.Kind)
			}
		},
	}
}
