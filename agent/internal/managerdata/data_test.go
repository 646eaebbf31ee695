package managerdata

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fixture is the hermetic Manager data the workflow golden tests use too.
const fixture = "../workflow/testdata/manager"

// managerServer serves the fixture; fail makes every request a 503. hits counts requests.
func managerServer(t *testing.T, fail *atomic.Bool, hits *atomic.Int64) (*httptest.Server, map[string]string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		b, err := os.ReadFile(filepath.Join(fixture, filepath.Base(r.URL.Path)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Last-Modified", "Mon, 02 Nov 2026 10:00:00 GMT")
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	urls := map[string]string{}
	for _, f := range Files {
		urls[f] = srv.URL + "/data/" + f
	}
	return srv, urls
}

// fakeClock is a settable clock.
type fakeClock struct{ now atomic.Pointer[time.Time] }

func newFakeClock(t time.Time) *fakeClock { c := &fakeClock{}; c.set(t); return c }
func (c *fakeClock) set(t time.Time)      { c.now.Store(&t) }
func (c *fakeClock) Now() time.Time       { return *c.now.Load() }

// TestManagerRefreshAndOffline: the cache's age comes from the fetch date recorded with it under
// the injected clock, so the result is the same on any calendar day and whatever the files'
// modification times say.
func TestManagerRefreshAndOffline(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	var hits atomic.Int64
	_, urls := managerServer(t, &fail, &hits)
	cache := t.TempDir()
	clock := newFakeClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	opts := Options{URLs: urls, CacheDir: cache, MaxAge: 24 * time.Hour, Now: clock.Now}

	m := New(opts)
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ws := strings.Join(m.Warnings(), "\n"); !strings.Contains(ws, "extension-node-map.json is not cached") ||
		!strings.Contains(ws, "manager.extension_node_map_url") || !strings.Contains(ws, "launcher manager-data import") {
		t.Fatalf("empty cache should be reported with the keys to fix it, got %q", ws)
	}
	if err := m.Refresh(context.Background()); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	for _, f := range append(Files, metaFile) {
		if _, err := os.Stat(filepath.Join(cache, f)); err != nil {
			t.Errorf("%s not cached: %v", f, err)
		}
	}
	if got := m.Index().ReposOfType("ImageResize+"); len(got) != 3 || got[1] != "https://github.com/original/ComfyUI_essentials" {
		t.Errorf("node map after refresh: %v", got)
	}
	if ws := m.Warnings(); len(ws) != 0 {
		t.Errorf("fresh data should have no warnings, got %v", ws)
	}

	// The files' mtimes are far in the past and the future: only the record counts.
	for i, f := range Files {
		mt := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
		if i%2 == 1 {
			mt = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		if err := os.Chtimes(filepath.Join(cache, f), mt, mt); err != nil {
			t.Fatal(err)
		}
	}

	// Offline: a new instance works from the cache alone; a failing refresh keeps it.
	fail.Store(true)
	m2 := New(opts)
	if err := m2.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, s := range m2.Status().Files {
		if !s.FetchedAt.Equal(clock.Now()) || s.Stale || s.Source != urls[s.Name] {
			t.Errorf("%s after reload: fetched %v from %q, stale %v; want the recorded fetch", s.Name, s.FetchedAt, s.Source, s.Stale)
		}
	}
	if err := m2.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "HTTP 503") ||
		!strings.Contains(err.Error(), "manager.model_list_url") {
		t.Errorf("refresh against a down server: %v", err)
	}
	if !m2.Index().Has(FileNodeMap) || m2.Index().Preemptor("UnetLoaderGGUF") == "" {
		t.Error("cached data lost after a failed refresh")
	}
	if st := m2.Status(); st.Files[0].LastError == "" || st.State != "ok" {
		t.Errorf("status should carry the last error and stay ok: %+v", st)
	}

	// 23 hours later the data is still fresh; two days later it is stale and says so.
	clock.set(clock.Now().Add(23 * time.Hour))
	if st := m2.Status(); st.State != "ok" {
		t.Errorf("state after 23 h = %s", st.State)
	}
	clock.set(clock.Now().Add(25 * time.Hour))
	if ws := strings.Join(m2.Warnings(), "\n"); !strings.Contains(ws, "is stale") || !strings.Contains(ws, "manager.max_age") {
		t.Errorf("stale data not reported: %q", ws)
	}
	if st := m2.Status(); st.State != "stale" {
		t.Errorf("state = %s, want stale", st.State)
	}
}

func TestRefreshIfStaleFetchesOnlyWhatIsOld(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	var hits atomic.Int64
	_, urls := managerServer(t, &fail, &hits)
	clock := newFakeClock(time.Date(2030, 5, 1, 0, 0, 0, 0, time.UTC))
	opts := Options{URLs: urls, CacheDir: t.TempDir(), MaxAge: time.Hour, Now: clock.Now}
	m := New(opts)
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fetched, err := m.RefreshIfStale(context.Background()); !fetched || err != nil || hits.Load() != 4 {
		t.Fatalf("empty cache: fetched %v, %v, %d requests", fetched, err, hits.Load())
	}
	// A restart with a fresh cache touches no network.
	m2 := New(opts)
	if err := m2.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fetched, err := m2.RefreshIfStale(context.Background()); fetched || err != nil || hits.Load() != 4 {
		t.Errorf("fresh cache refetched: %v, %v, %d requests", fetched, err, hits.Load())
	}
	clock.set(clock.Now().Add(2 * time.Hour))
	if fetched, err := m2.RefreshIfStale(context.Background()); !fetched || err != nil || hits.Load() != 8 {
		t.Errorf("stale cache: fetched %v, %v, %d requests", fetched, err, hits.Load())
	}
}

func TestRejectsNonJSON(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>captive portal</html>"))
	}))
	defer srv.Close()
	m := New(Options{URLs: map[string]string{FileNodeMap: srv.URL, FileStats: srv.URL, FileModelList: srv.URL, FileCustomList: srv.URL}})
	err := m.Refresh(context.Background())
	if err == nil || !strings.Contains(err.Error(), "not a JSON document") {
		t.Fatalf("want a not-JSON error, got %v", err)
	}
}

func TestSeed(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	m := New(Options{CacheDir: cache, SeedDir: fixture, MaxAge: 100 * 365 * 24 * time.Hour})
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cache, FileNodeMap)); err != nil {
		t.Errorf("seed not copied into the cache: %v", err)
	}
	if got := m.Index().RepoOfRegistryID("ComfyUI-GGUF"); got != "https://github.com/city96/ComfyUI-GGUF" {
		t.Errorf("cnr index = %q", got)
	}
	if got := m.Index().Models("4x-UltraSharp.pth"); len(got) != 1 || got[0].Folder != "upscale_models" {
		t.Errorf("model list = %+v", got)
	}
	if s := m.Status().Files[0]; !strings.HasPrefix(s.Source, "seed:") || s.FetchedAt.IsZero() {
		t.Errorf("seeded file status = %+v", s)
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	cases := map[string]int64{"67.0MB": 67_000_000, "1.2 GB": 1_200_000_000, "512KB": 512_000, "x": 0, "": 0, "-1GB": 0}
	for in, want := range cases {
		if got := ParseSize(in); got != want {
			t.Errorf("ParseSize(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestImportDirectory(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(time.Date(2031, 1, 10, 0, 0, 0, 0, time.UTC))
	cache := t.TempDir()
	opts := Options{CacheDir: cache, MaxAge: 30 * 24 * time.Hour, Now: clock.Now,
		URLs: map[string]string{FileNodeMap: "http://127.0.0.1:1/x"}}
	m := New(opts)
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ok, st := m.Healthy(); ok || st.State != "missing" {
		t.Fatalf("empty cache must be degraded: ok %v, state %s", ok, st.State)
	}
	abs, err := filepath.Abs(fixture)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	res, err := m.Import(context.Background(), abs, at)
	if err != nil || len(res.Imported) != 4 || len(res.Missing) != 0 {
		t.Fatalf("import: %+v, %v", res, err)
	}
	if ok, st := m.Healthy(); !ok || st.State != "ok" {
		t.Errorf("after import: ok %v, %+v", ok, st)
	}
	if m.Index().Preemptor("UnetLoaderGGUF") == "" {
		t.Error("imported node map not indexed")
	}
	// The date travels with the cache: a restart reads it back.
	m2 := New(opts)
	if err := m2.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, s := range m2.Status().Files {
		if !s.FetchedAt.Equal(at) || s.Source != "import:"+abs {
			t.Errorf("%s after restart: %v from %q", s.Name, s.FetchedAt, s.Source)
		}
	}
	// Twenty days after the copy's date plus 11 more: stale under a 30-day max_age.
	clock.set(at.Add(31 * 24 * time.Hour))
	if st := m2.Status(); st.State != "stale" {
		t.Errorf("state = %s, want stale", st.State)
	}
}

func TestImportRejectsBadSources(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, FileNodeMap), []byte(`{"broken": `), 0o644)
	os.WriteFile(filepath.Join(bad, FileStats), []byte(`{}`), 0o644)
	file := filepath.Join(empty, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	cases := []struct{ name, src, want string }{
		{"relative path", "some/dir", "absolute"},
		{"not found", filepath.Join(empty, "nope"), "not a directory"},
		{"a file", file, "not a directory"},
		{"no manager file", empty, "holds none of"},
		{"a file that does not parse", bad, "parse extension-node-map.json"},
		{"another scheme", "ftp://mirror/manager", "neither a directory nor an http(s) URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cache := t.TempDir()
			m := New(Options{CacheDir: cache})
			_, err := m.Import(context.Background(), c.src, time.Time{})
			if !errors.Is(err, ErrBadSource) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrBadSource with %q", err, c.want)
			}
			if ents, _ := os.ReadDir(cache); len(ents) != 0 {
				t.Errorf("a refused import wrote %d files", len(ents))
			}
		})
	}
}

func TestImportURL(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	var hits atomic.Int64
	srv, _ := managerServer(t, &fail, &hits)
	m := New(Options{CacheDir: t.TempDir()})
	res, err := m.Import(context.Background(), srv.URL+"/mirror/", time.Time{})
	if err != nil || len(res.Imported) != 4 {
		t.Fatalf("import: %+v %v", res, err)
	}
	want := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	for _, s := range m.Status().Files {
		if !s.FetchedAt.Equal(want) {
			t.Errorf("%s dated %v, want the server's Last-Modified %v", s.Name, s.FetchedAt, want)
		}
	}
	fail.Store(true)
	if _, err := m.Import(context.Background(), srv.URL+"/mirror/", time.Time{}); !errors.Is(err, ErrBadSource) {
		t.Errorf("import from a failing server: %v", err)
	}
}

func TestWaitIsBounded(t *testing.T) {
	t.Parallel()
	m := New(Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if m.Wait(ctx) {
		t.Fatal("Wait reported a load that never ran")
	}
	if st := m.Status(); st.State != "loading" || !strings.Contains(strings.Join(st.Warnings, " "), "still loading") {
		t.Errorf("before the load: %+v", st)
	}
	if ok, _ := m.Healthy(); !ok {
		t.Error("loading is not a failure")
	}
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !m.Wait(context.Background()) {
		t.Error("Wait after Load")
	}
}
