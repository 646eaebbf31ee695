package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/managerdata"
)

// managerFixtureServer serves the workflow package's Manager fixture and counts requests.
func managerFixtureServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, err := os.ReadFile(filepath.Join("../workflow/testdata/manager", filepath.Base(r.URL.Path)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func withManagerURLs(base string) func(c *config.Config) {
	return func(c *config.Config) {
		c.Manager.ExtensionNodeMapURL = base + "/" + managerdata.FileNodeMap
		c.Manager.GithubStatsURL = base + "/" + managerdata.FileStats
		c.Manager.ModelListURL = base + "/" + managerdata.FileModelList
		c.Manager.CustomNodeListURL = base + "/" + managerdata.FileCustomList
	}
}

// managerChecked waits (bounded) until the agent has loaded its Manager data and done the
// first refresh check, and returns the status then.
func managerChecked(t *testing.T, a *App) managerdata.Status {
	t.Helper()
	select {
	case <-a.managerChecked:
	case <-time.After(time.Minute):
		t.Fatal("the Manager data was never loaded and checked")
	}
	return a.managerData.Status()
}

// TestManagerDataStartup: a fresh agent fetches the Manager data once in the background; an
// agent whose cache is younger than max_age starts without touching the network.
func TestManagerDataStartup(t *testing.T) {
	srv, hits := managerFixtureServer(t)
	dataDir := t.TempDir()
	edit := func(c *config.Config) {
		withManagerURLs(srv.URL)(c)
		c.Paths.DataDir, c.Paths.ModelsDir = dataDir, filepath.Join(dataDir, "models")
	}
	a, _ := newTestApp(t, edit)
	if st := managerChecked(t, a); st.State != "ok" || hits.Load() != 4 {
		t.Fatalf("fresh agent: state %s after %d requests", st.State, hits.Load())
	}
	a.shutdown(context.Background())

	hits.Store(0)
	b, _ := newTestApp(t, edit)
	st := managerChecked(t, b)
	if st.State != "ok" || !b.managerData.Index().Has(managerdata.FileNodeMap) {
		t.Fatalf("restarted agent: %+v", st)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("an agent with a fresh cache fetched %d files at start", n)
	}
}
