package workflow

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// managerServer serves the testdata/manager fixture; fail makes every request a 503.
func managerServer(t *testing.T, fail *atomic.Bool) (*httptest.Server, map[string]string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		b, err := os.ReadFile(filepath.Join("testdata/manager", filepath.Base(r.URL.Path)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	urls := map[string]string{}
	for _, f := range ManagerFiles {
		urls[f] = srv.URL + "/data/" + f
	}
	return srv, urls
}

func TestManagerRefreshAndOffline(t *testing.T) {
	var fail atomic.Bool
	_, urls := managerServer(t, &fail)
	cache := t.TempDir()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	opts := ManagerOptions{URLs: urls, CacheDir: cache, MaxAge: 24 * time.Hour, Now: clock}

	m := NewManagerData(opts)
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ws := strings.Join(m.Warnings(), "\n"); !strings.Contains(ws, "extension-node-map.json is not cached") {
		t.Fatalf("empty cache should be reported, got %q", ws)
	}
	if m.Index().IsCore("KSampler") != true {
		t.Error("embedded core list should know KSampler without Manager data")
	}

	if err := m.Refresh(context.Background()); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	for _, f := range ManagerFiles {
		if _, err := os.Stat(filepath.Join(cache, f)); err != nil {
			t.Errorf("%s not cached: %v", f, err)
		}
	}
	if got := m.Index().rank(m.Index().typeRepos["ImageResize+"])[0]; got != "https://github.com/original/ComfyUI_essentials" {
		t.Errorf("ranking after refresh: %s", got)
	}
	if ws := m.Warnings(); len(ws) != 0 {
		t.Errorf("fresh data should have no warnings, got %v", ws)
	}

	// Offline: a new instance works from the cache alone; a failing refresh keeps it.
	fail.Store(true)
	m2 := NewManagerData(opts)
	if err := m2.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m2.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("refresh against a down server: %v", err)
	}
	if !m2.Index().Present[FileNodeMap] || m2.Index().preempt["UnetLoaderGGUF"] == "" {
		t.Error("cached data lost after a failed refresh")
	}
	st := m2.Status()
	if st[0].LastError == "" {
		t.Error("status should carry the last error")
	}

	// Two days later the data is stale and says so.
	now = now.Add(48 * time.Hour)
	if ws := strings.Join(m2.Warnings(), "\n"); !strings.Contains(ws, "is stale") {
		t.Errorf("stale data not reported: %q", ws)
	}
}

func TestManagerRejectsNonJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>captive portal</html>"))
	}))
	defer srv.Close()
	m := NewManagerData(ManagerOptions{URLs: map[string]string{FileNodeMap: srv.URL, FileStats: srv.URL, FileModelList: srv.URL, FileCustomList: srv.URL}})
	err := m.Refresh(context.Background())
	if err == nil || !strings.Contains(err.Error(), "not a JSON document") {
		t.Fatalf("want a not-JSON error, got %v", err)
	}
}

func TestManagerSeed(t *testing.T) {
	cache := t.TempDir()
	m := NewManagerData(ManagerOptions{CacheDir: cache, SeedDir: "testdata/manager", MaxAge: 100 * 365 * 24 * time.Hour})
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cache, FileNodeMap)); err != nil {
		t.Errorf("seed not copied into the cache: %v", err)
	}
	if got := m.Index().cnr["comfyui-gguf"]; got != "https://github.com/city96/ComfyUI-GGUF" {
		t.Errorf("cnr index = %q", got)
	}
	if got := m.Index().FolderOf("4x-UltraSharp.pth"); got != "upscale_models" {
		t.Errorf("FolderOf = %q", got)
	}
}

func TestParseSize(t *testing.T) {
	cases := map[string]int64{"67.0MB": 67_000_000, "1.2 GB": 1_200_000_000, "512KB": 512_000, "x": 0, "": 0, "-1GB": 0}
	for in, want := range cases {
		if got := ParseSize(in); got != want {
			t.Errorf("ParseSize(%q) = %d, want %d", in, got, want)
		}
	}
}
