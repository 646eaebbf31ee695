package managerdata

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// heldServer serves the fixture but holds each model-list.json request, after telling asked,
// until release is closed.
func heldServer(t *testing.T) (urls map[string]string, asked chan struct{}, release chan struct{}) {
	t.Helper()
	asked, release = make(chan struct{}, 8), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if filepath.Base(r.URL.Path) == FileModelList {
			asked <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		b, err := os.ReadFile(filepath.Join(fixture, filepath.Base(r.URL.Path)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	urls = map[string]string{}
	for _, f := range Files {
		urls[f] = srv.URL + "/data/" + f
	}
	return urls, asked, release
}

// TestStartWaitsForTheFilesTheCacheLacks: on a fresh node the first load includes fetching the
// files, so a lookup during it waits (or, its deadline passed, is told "loading") instead of
// being told the files are not cached; with a complete (even stale) cache the load is done
// once the cache is read and the refetch runs behind it.
func TestStartWaitsForTheFilesTheCacheLacks(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	clock := newFakeClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	cache := t.TempDir()

	urls, asked, release := heldServer(t)
	d := New(Options{URLs: urls, CacheDir: cache, Now: clock.Now})
	started := make(chan error, 1)
	go func() { _, loadErr, fetchErr := d.Start(ctx); started <- errors.Join(loadErr, fetchErr) }()
	<-asked // the fetch of model-list.json is under way
	if d.Loaded() || d.Status().State != "loading" {
		t.Fatalf("during the first fetch: loaded=%v state %s, want still loading", d.Loaded(), d.Status().State)
	}
	expired, cancelExpired := context.WithCancel(ctx)
	cancelExpired()
	if d.Wait(expired) {
		t.Fatal("Wait returned true while the files the cache lacks are being fetched")
	}
	close(release)
	if !d.Wait(ctx) || !d.Index().Has(FileModelList) {
		t.Fatalf("after the first fetch: loaded=%v, model list present=%v", d.Loaded(), d.Index().Has(FileModelList))
	}
	if err := <-started; err != nil {
		t.Fatalf("start: %v", err)
	}

	// The same cache, complete but past max_age: usable at once, refetched behind the load.
	clock.set(clock.Now().Add(DefaultMaxAge + time.Hour))
	urls2, asked2, release2 := heldServer(t)
	d2 := New(Options{URLs: urls2, CacheDir: cache, Now: clock.Now})
	go func() { _, loadErr, fetchErr := d2.Start(ctx); started <- errors.Join(loadErr, fetchErr) }()
	<-asked2
	if !d2.Loaded() || !d2.Index().Has(FileModelList) {
		t.Fatalf("stale cache during its refetch: loaded=%v, want the cached copy in use", d2.Loaded())
	}
	close(release2)
	if err := <-started; err != nil {
		t.Fatalf("start with a stale cache: %v", err)
	}
}
