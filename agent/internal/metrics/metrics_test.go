package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fakeExtensions []ExtensionStat

func (f fakeExtensions) ExtensionStats() []ExtensionStat { return f }

func TestExtensionsCollector(t *testing.T) {
	t.Parallel()
	c := Extensions(fakeExtensions{
		{Name: "civitai-source", Kind: "wasm", Calls: 12, Errors: 2, Latency: 1500 * time.Millisecond},
		{Name: "builtin-parser", Kind: "builtin", Calls: 3},
	})
	want := `
# HELP launcher_extension_calls_total Calls into an extension.
# TYPE launcher_extension_calls_total counter
launcher_extension_calls_total{extension="builtin-parser",kind="builtin"} 3
launcher_extension_calls_total{extension="civitai-source",kind="wasm"} 12
# HELP launcher_extension_errors_total Calls into an extension that failed (error, panic, trap or timeout).
# TYPE launcher_extension_errors_total counter
launcher_extension_errors_total{extension="builtin-parser",kind="builtin"} 0
launcher_extension_errors_total{extension="civitai-source",kind="wasm"} 2
# HELP launcher_extension_call_seconds_total Time spent in calls into an extension; divide by calls for the mean latency.
# TYPE launcher_extension_call_seconds_total counter
launcher_extension_call_seconds_total{extension="builtin-parser",kind="builtin"} 0
launcher_extension_call_seconds_total{extension="civitai-source",kind="wasm"} 1.5
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestRestartsCountCausesAndOpenBreakers(t *testing.T) {
	t.Parallel()
	r := NewRestarts()
	r.Exit("a", "cuda_oom", true, false)
	r.Exit("a", "cuda_oom", true, false)
	r.Exit("b", "", true, false)
	r.Exit("a", "cuda_oom", false, true) // final exit: the breaker opened, no restart
	r.Exit("c", "port_in_use", false, true)
	r.Ready("c") // started again by hand: closed
	want := `
# HELP launcher_comfyui_crash_loop_breakers_open Projects whose ComfyUI crashed too often and is no longer restarted until a manual start.
# TYPE launcher_comfyui_crash_loop_breakers_open gauge
launcher_comfyui_crash_loop_breakers_open 1
# HELP launcher_comfyui_restarts_total ComfyUI processes restarted by the supervisor after a crash, by the cause read from their last log lines.
# TYPE launcher_comfyui_restarts_total counter
launcher_comfyui_restarts_total{cause="cuda_oom"} 2
launcher_comfyui_restarts_total{cause="unknown"} 1
`
	if err := testutil.CollectAndCompare(r, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestRegistryRejectsClashingCollectors(t *testing.T) {
	t.Parallel()
	r := New("test")
	if err := r.Register(Extensions(fakeExtensions{})); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(Extensions(fakeExtensions{})); err == nil {
		t.Fatal("registering the same families twice is not an error")
	}
}
