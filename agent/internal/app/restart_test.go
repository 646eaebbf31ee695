package app

import (
	"path/filepath"
	"testing"
)

// TestConfigRoutesAcrossRestart: a fresh agent is stopped before anything is written and
// started again; the config routes must answer as on the first start (nutsdb reopened the
// never-written settings bucket without its index: 500 "bucket not found"), and what they
// save must survive the next restart.
func TestConfigRoutesAcrossRestart(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	_, _, stop := startAppOn(t, dataDir, nil)
	stop()

	_, srv, stop := startAppOn(t, dataDir, nil)
	base := srv.URL
	if code, body := call(t, "GET", base+"/api/get_config", ""); code != 200 {
		t.Fatalf("get_config after a restart: %d %v", code, body)
	}
	if code, body := call(t, "POST", base+"/api/update_config", `{"credentials":{"civitai":{"apikey":"k-1"}}}`); code != 200 {
		t.Fatalf("update_config after a restart: %d %v", code, body)
	}
	if code, body := call(t, "POST", base+"/api/set_config", `{"credentials":{"civitai":{"apikey":"k-2345"}},"theme":"dark"}`); code != 200 {
		t.Fatalf("set_config after a restart: %d %v", code, body)
	}
	stop()

	_, srv, _ = startAppOn(t, dataDir, nil)
	base = srv.URL
	code, got := call(t, "GET", base+"/api/get_config", "")
	if code != 200 || got["theme"] != "dark" {
		t.Fatalf("get_config after the second restart: %d %v, want the saved theme", code, got)
	}
	civ, _ := got["credentials"].(map[string]any)["civitai"].(map[string]any)
	if key, _ := civ["apikey"].(string); key == "" || key == "k-2345" {
		t.Fatalf("saved key after restart = %q, want it stored and masked", key)
	}
}
