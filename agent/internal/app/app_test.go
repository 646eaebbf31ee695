package app

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/config/configtest"
)

// newTestApp wires a whole agent on a temp data dir, started and served by httptest.
func newTestApp(t testing.TB, edit func(c *config.Config)) (*App, *httptest.Server) {
	t.Helper()
	a, srv, _ := startAppOn(t, filepath.Join(t.TempDir(), "data"), edit)
	return a, srv
}

// startAppOn wires and starts a whole agent on dataDir; stop shuts it down as Serve does (the
// store closes), so a second call on the same directory is a restart.
func startAppOn(t testing.TB, dataDir string, edit func(c *config.Config)) (a *App, srv *httptest.Server, stop func()) {
	t.Helper()
	cfg := configtest.Offline()
	cfg.Paths.DataDir = dataDir
	cfg.Paths.ModelsDir = filepath.Join(dataDir, "models")
	cfg.GPU.Provider = "none"
	if edit != nil {
		edit(cfg)
	}
	configtest.Require(t, cfg)
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
	srv = httptest.NewServer(a.Handler())
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			srv.Close()
			a.shutdown(context.Background())
		}
	}
	t.Cleanup(stop)
	return a, srv, stop
}

func TestCivitAIKeyFromSettingsPage(t *testing.T) {
	t.Setenv("CIVITAI_API_TOKEN", "")
	a, srv := newTestApp(t, func(c *config.Config) { c.Sources.CivitAI.TokenEnv = "CIVITAI_API_TOKEN" })
	creds := a.models.Sources()
	civitai := civitaiHost(t, a)

	if _, ok := creds.Credential(civitai); ok {
		t.Fatal("credential present before any key was set")
	}
	code, body := call(t, "POST", srv.URL+"/api/set_config", `{"credentials":{"civitai":{"apikey":"k-123"}}}`)
	if code != 200 {
		t.Fatalf("set_config: %d %v", code, body)
	}
	c, ok := creds.Credential(civitai)
	if !ok || c.Value != "Bearer k-123" {
		t.Fatalf("credential after set_config = %+v, %v", c, ok)
	}
	// The read side masks the key.
	_, got := call(t, "GET", srv.URL+"/api/get_config", "")
	if civ := got["credentials"].(map[string]any)["civitai"].(map[string]any); civ["apikey"] == "k-123" {
		t.Fatalf("get_config returned the key unmasked: %v", got)
	}
	code, _ = call(t, "POST", srv.URL+"/api/update_config", `{"credentials":{"civitai":{"apikey":""}}}`)
	if _, ok := creds.Credential(civitai); code != 200 || ok {
		t.Fatalf("clearing the key left the credential (status %d)", code)
	}
}

func TestCivitAITokenFromConfigWins(t *testing.T) {
	t.Setenv("LAUNCHER_TEST_CIVITAI", "from-env")
	a, srv := newTestApp(t, func(c *config.Config) { c.Sources.CivitAI.TokenEnv = "LAUNCHER_TEST_CIVITAI" })
	call(t, "POST", srv.URL+"/api/set_config", `{"credentials":{"civitai":{"apikey":"from-ui"}}}`)
	if c, _ := a.models.Sources().Credential(civitaiHost(t, a)); c.Value != "Bearer from-env" {
		t.Fatalf("credential %q, want the configured token", c.Value)
	}
}

// civitaiHost is the host name of the agent's CivitAI endpoint (a loopback one in tests), which
// its credential is kept under.
func civitaiHost(t *testing.T, a *App) string {
	t.Helper()
	u, err := url.Parse(a.cfg.Sources.CivitAI.Endpoint)
	if err != nil || u.Hostname() == "" {
		t.Fatalf("sources.civitai.endpoint %q: %v", a.cfg.Sources.CivitAI.Endpoint, err)
	}
	return u.Hostname()
}
