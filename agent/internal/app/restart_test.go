package app

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/config"
)

// startAppOn wires and starts a whole agent on dataDir; stop shuts it down as Serve does (the
// store closes), so a second call on the same directory is a restart.
func startAppOn(t *testing.T, dataDir string) (base string, stop func()) {
	t.Helper()
	cfg := config.Default()
	cfg.Paths.DataDir = dataDir
	cfg.Paths.ModelsDir = filepath.Join(dataDir, "models")
	cfg.GPU.Provider = "none"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler), "test", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			srv.Close()
			a.shutdown(context.Background())
		}
	}
	t.Cleanup(stop)
	return srv.URL, stop
}

// TestConfigRoutesAcrossRestart: a fresh agent is stopped before anything is written and
// started again; the config routes must answer as on the first start (nutsdb reopened the
// never-written settings bucket without its index: 500 "bucket not found"), and what they
// save must survive the next restart.
func TestConfigRoutesAcrossRestart(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	_, stop := startAppOn(t, dataDir)
	stop()

	base, stop := startAppOn(t, dataDir)
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

	base, _ = startAppOn(t, dataDir)
	code, got := call(t, "GET", base+"/api/get_config", "")
	if code != 200 || got["theme"] != "dark" {
		t.Fatalf("get_config after the second restart: %d %v, want the saved theme", code, got)
	}
	civ, _ := got["credentials"].(map[string]any)["civitai"].(map[string]any)
	if key, _ := civ["apikey"].(string); key == "" || key == "k-2345" {
		t.Fatalf("saved key after restart = %q, want it stored and masked", key)
	}
}
