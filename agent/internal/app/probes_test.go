package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/config/configtest"
)

// TestProbes: /livez answers at once; /readyz is 503 (saying what it waits for) until the
// start hooks ran and the declared projects were reconciled once, then 200. Both are served
// without the token that every other route needs.
func TestProbes(t *testing.T) {
	tmp := t.TempDir()
	cfg := configtest.Offline()
	cfg.Paths.DataDir = filepath.Join(tmp, "data")
	cfg.Paths.ModelsDir = filepath.Join(tmp, "data", "models")
	cfg.GPU.Provider = "none"
	cfg.Server.Token = "probe-token-0123456789"
	configtest.Require(t, cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler), "test", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer func() { srv.Close(); a.shutdown(context.Background()) }()
	probe := func(path string) (int, map[string]any) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, _ := probe("/livez"); code != 200 {
		t.Fatalf("/livez before start: %d", code)
	}
	code, body := probe("/readyz")
	if code != 503 || body["status"] != "starting" {
		t.Fatalf("/readyz before start: %d %v, want 503 starting", code, body)
	}
	if w, _ := body["waiting_for"].([]any); len(w) != 2 || w[0] != "operations_resumed" {
		t.Fatalf("/readyz waiting_for = %v", body["waiting_for"])
	}
	if code, _ := probe("/api/projects"); code != 401 {
		t.Fatalf("/api/projects without token: %d, the probes' exemption leaked", code)
	}
	if code, _ := probe("/metrics"); code != 401 {
		t.Fatalf("/metrics without token: %d, want 401", code)
	}

	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("agent never became ready")
	}
	if code, body := probe("/readyz"); code != 200 || body["status"] != "ready" {
		t.Fatalf("/readyz after start: %d %v", code, body)
	}
	a.probes.stopping.Store(true) // what Serve does when shutdown begins
	if code, body := probe("/readyz"); code != 503 || body["status"] != "stopping" {
		t.Fatalf("/readyz while stopping: %d %v", code, body)
	}
	if code, _ := probe("/livez"); code != 200 {
		t.Fatalf("/livez while stopping: %d", code)
	}
}
