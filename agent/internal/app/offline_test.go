package app

import (
	"net/url"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/config"
)

// TestTestAgentIsOffline guards the test config every agent in this package starts from (no
// internet in tests): the agent itself reports Manager data URLs on loopback, and their fetch
// at start failed at once with the loopback server's 404, not a DNS wait or a download.
func TestTestAgentIsOffline(t *testing.T) {
	t.Parallel()
	a, srv := newTestApp(t, nil)
	managerChecked(t, a)
	code, health := call(t, "GET", srv.URL+"/api/health", "")
	md, _ := health["components"].(map[string]any)["manager_data"].(map[string]any)
	detail, _ := md["detail"].(map[string]any)
	files, _ := detail["files"].([]any)
	if code != 200 || detail["state"] != "missing" || len(files) != 4 {
		t.Fatalf("health: %d, manager_data %v; want 4 files missing", code, md)
	}
	for _, f := range files {
		f := f.(map[string]any)
		u, err := url.Parse(f["url"].(string))
		if err != nil || !config.IsLoopbackHost(u.Hostname()) {
			t.Errorf("%s is fetched from %q, not loopback", f["config_key"], f["url"])
		}
		if e, _ := f["last_error"].(string); !strings.Contains(e, "HTTP 404") {
			t.Errorf("%s: last_error %q, want the loopback server's 404", f["config_key"], e)
		}
	}
}
