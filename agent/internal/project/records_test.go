package project

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/store"
)

var testLauncherJSON = json.RawMessage(`{"format":"comfyui_launcher","workflow_json":{"nodes":[]},"snapshot_json":{}}`)

func fixedNow() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }

// recordHasLauncherJSON reports whether the stored record of id carries a launcher_json field.
func recordHasLauncherJSON(t *testing.T, db *store.DB, id string) bool {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := db.Get(store.BucketProjects, id, &fields); err != nil {
		t.Fatal(err)
	}
	_, ok := fields["launcher_json"]
	return ok
}

func storedLauncherJSON(t *testing.T, db *store.DB, id string) (json.RawMessage, error) {
	t.Helper()
	var raw json.RawMessage
	err := db.Get(store.BucketLauncherJSON, id, &raw)
	return raw, err
}

// TestLauncherJSONStoredApart: the launcher JSON is written once under its own key, so the
// record rewritten at every state change stays small; it comes back with the record after a
// restart and goes with it on delete.
func TestLauncherJSONStoredApart(t *testing.T) {
	db := openStore(t, filepath.Join(t.TempDir(), "db"))
	defer db.Close()
	r := newRecords(db, fixedNow)
	if _, err := r.insert(Project{ID: "p1", Name: "p1", State: StateDownloadComfyUI, LauncherJSON: testLauncherJSON}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.update("p1", func(p *Project) { p.State = StateReady }); err != nil {
		t.Fatal(err)
	}
	if recordHasLauncherJSON(t, db, "p1") {
		t.Fatal("the project record still carries the launcher JSON")
	}
	if got, err := storedLauncherJSON(t, db, "p1"); err != nil || !bytes.Equal(got, testLauncherJSON) {
		t.Fatalf("stored launcher JSON %s, %v; want %s", got, err, testLauncherJSON)
	}

	again := newRecords(db, fixedNow)
	if err := again.load(slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	p := again.current("p1")
	if p.State != StateReady || !bytes.Equal(p.LauncherJSON, testLauncherJSON) {
		t.Fatalf("after a restart: state %s, launcher JSON %s", p.State, p.LauncherJSON)
	}

	if err := again.remove("p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := storedLauncherJSON(t, db, "p1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("launcher JSON after delete: err %v, want not found", err)
	}
}

// TestNewProjectDoesNotInheritALeftLauncherJSON: a launcher JSON a failed delete left behind
// never attaches to a later project of that id created without one.
func TestNewProjectDoesNotInheritALeftLauncherJSON(t *testing.T) {
	db := openStore(t, filepath.Join(t.TempDir(), "db"))
	defer db.Close()
	if err := db.Put(store.BucketLauncherJSON, "p1", testLauncherJSON); err != nil {
		t.Fatal(err)
	}
	r := newRecords(db, fixedNow)
	if _, err := r.insert(Project{ID: "p1", Name: "p1"}); err != nil {
		t.Fatal(err)
	}
	again := newRecords(db, fixedNow)
	if err := again.load(slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if lj := again.current("p1").LauncherJSON; lj != nil {
		t.Fatalf("new project has launcher JSON %s, want none", lj)
	}
}

// TestOlderRecordIsSplit: a record written by an agent that kept the launcher JSON inside it
// loads with its launcher JSON, which moves under its own key.
func TestOlderRecordIsSplit(t *testing.T) {
	db := openStore(t, filepath.Join(t.TempDir(), "db"))
	defer db.Close()
	old := Project{ID: "p1", Name: "p1", State: StateReady, Installed: true, LauncherJSON: testLauncherJSON}
	if err := db.Put(store.BucketProjects, "p1", old); err != nil {
		t.Fatal(err)
	}
	for start := 1; start <= 2; start++ {
		r := newRecords(db, fixedNow)
		if err := r.load(slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		if p := r.current("p1"); !p.Installed || !bytes.Equal(p.LauncherJSON, testLauncherJSON) {
			t.Fatalf("start %d: installed %v, launcher JSON %s", start, p.Installed, p.LauncherJSON)
		}
		if recordHasLauncherJSON(t, db, "p1") {
			t.Fatalf("start %d: the record still carries the launcher JSON", start)
		}
		if got, err := storedLauncherJSON(t, db, "p1"); err != nil || !bytes.Equal(got, testLauncherJSON) {
			t.Fatalf("start %d: stored launcher JSON %s, %v", start, got, err)
		}
	}
}
