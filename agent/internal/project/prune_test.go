package project

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/store"
)

// pruneManager is a manager over a real store with the given projects, without starting it.
func pruneManager(t *testing.T, projects ...Project) (*Manager, *store.DB, string) {
	t.Helper()
	data := t.TempDir()
	db := openStore(t, filepath.Join(data, "db"))
	t.Cleanup(func() { db.Close() })
	m := New(Deps{Store: db}, Options{DataDir: data, PortMin: 4001, PortMax: 4100})
	for _, p := range projects {
		m.recs.projects[p.ID] = &entry{p: p}
	}
	return m, db, data
}

// writeRunLog writes a run log of size bytes last modified at mod.
func writeRunLog(t *testing.T, dir, name string, size int, mod time.Time) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(strings.Repeat("x", size)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mod, mod); err != nil {
		t.Fatal(err)
	}
	return p
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestPruneRunLogsKeepsTheCurrentOne(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	m, _, data := pruneManager(t,
		Project{ID: "busy", State: StateRunning},
		Project{ID: "idle", State: StateReady})
	busy := filepath.Join(data, "projects", "busy", "logs")
	// The running process started 90 days ago and still writes its log (its mtime is old too
	// when it is quiet): it must survive although it is past the age limit.
	current := writeRunLog(t, busy, "run-20300301T000000Z.log", 100, now.Add(-90*day))
	m.recs.projects["busy"].p.Process = &ProcRecord{PID: 1, LogPath: current}
	oldBusy := writeRunLog(t, busy, "run-20300201T000000Z.log", 100, now.Add(-100*day))
	recentBusy := writeRunLog(t, busy, "run-20300530T000000Z.log", 100, now.Add(-2*day))

	idle := filepath.Join(data, "projects", "idle", "logs")
	newest := writeRunLog(t, idle, "run-20300101T000000Z.log", 100, now.Add(-150*day)) // newest, though old
	older := writeRunLog(t, idle, "run-20291201T000000Z.log", 100, now.Add(-180*day))
	unrelated := writeRunLog(t, idle, "notes.txt", 10, now.Add(-365*day))

	rep, err := m.PruneLogs(now, LogRetention{RunLogMaxAge: 30 * day})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{current, recentBusy, newest, unrelated} {
		if !exists(p) {
			t.Errorf("%s was deleted; it must be kept", p)
		}
	}
	for _, p := range []string{oldBusy, older} {
		if exists(p) {
			t.Errorf("%s is past run_log_max_age and was kept", p)
		}
	}
	if rep.RunLogsDeleted != 2 || rep.RunLogBytes != 200 {
		t.Fatalf("report %+v, want 2 run logs / 200 bytes", rep)
	}
}

func TestPruneRunLogsBySize(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	m, _, data := pruneManager(t, Project{ID: "p", State: StateReady})
	dir := filepath.Join(data, "projects", "p", "logs")
	var paths []string
	for i := range 5 { // run-0 is the oldest, run-4 the newest; 1000 bytes each
		paths = append(paths, writeRunLog(t, dir, fmt.Sprintf("run-2030050%dT000000Z.log", i), 1000, now.Add(-time.Duration(5-i)*time.Hour)))
	}
	rep, err := m.PruneLogs(now, LogRetention{RunLogMaxBytes: 2500})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		if want := i >= 3; exists(p) != want {
			t.Errorf("run log %d exists = %v, want %v (keep the newest 2500 bytes: logs 3 and 4)", i, exists(p), want)
		}
	}
	if rep.RunLogsDeleted != 3 {
		t.Fatalf("deleted %d run logs, want 3", rep.RunLogsDeleted)
	}
}

func TestPruneLogEntriesByAgeAndSize(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	m, db, _ := pruneManager(t)
	b := newLogBook(db, nil, func() time.Time { return now }, 10_000, slog.New(slog.DiscardHandler))
	// Two projects, one entry an hour for 10 days, oldest first.
	for h := 240; h > 0; h-- {
		at := now.Add(-time.Duration(h) * time.Hour)
		b.AddAt("a", at, LevelInfo, "line of a", nil)
		b.AddAt("b", at, LevelInfo, "line of b", nil)
	}
	count := func(prefix string) int {
		n, err := db.Count(store.BucketLogs, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// The pruner over this log book (its clock is the test's).
	lp := logPruner{db: db, recs: m.recs, logs: b, layout: m.layout}
	rep, err := lp.prune(now, LogRetention{EntriesMaxAge: 72 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := count("a/"); got != 72 {
		t.Fatalf("project a keeps %d entries after a 72h age limit, want 72", got)
	}
	// The log book forgets its running counts of pruned projects (they decide when it trims)
	// and counts what is left at their next line.
	b.writeMu.Lock()
	_, staleA := b.counts["a"]
	_, staleB := b.counts["b"]
	b.writeMu.Unlock()
	if staleA || staleB {
		t.Fatal("the log book still counts the entries pruning deleted")
	}
	if rep.EntriesDeleted != 2*(240-72) {
		t.Fatalf("deleted %d entries, want %d", rep.EntriesDeleted, 2*(240-72))
	}
	// Every entry left is within the age limit.
	err = db.Scan(store.BucketLogs, "", func(key string, _ []byte) error {
		if at := time.Unix(0, entryTime(key)); now.Sub(at) > 72*time.Hour {
			t.Errorf("entry %s (%s) is older than the limit", key, at)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A size cap keeps the newest entries of both projects that fit.
	var total int64
	var sizes []int64
	_ = db.Scan(store.BucketLogs, "", func(key string, raw []byte) error {
		total += int64(len(key) + len(raw))
		sizes = append(sizes, int64(len(key)+len(raw)))
		return nil
	})
	limit := total / 2
	if _, err := lp.prune(now, LogRetention{EntriesMaxBytes: limit}); err != nil {
		t.Fatal(err)
	}
	var left int64
	var oldest time.Time
	_ = db.Scan(store.BucketLogs, "", func(key string, raw []byte) error {
		left += int64(len(key) + len(raw))
		if at := time.Unix(0, entryTime(key)); oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
		return nil
	})
	if left > limit || left < limit-2*sizes[0] {
		t.Fatalf("bucket holds %d bytes after a cap of %d", left, limit)
	}
	if a, bb := count("a/"), count("b/"); a != bb || a < 30 || a > 40 {
		t.Fatalf("projects keep %d and %d entries; want the newest ~36 of each", a, bb)
	}
	if now.Sub(oldest) > 37*time.Hour {
		t.Fatalf("the oldest entry left is %s old: the newest entries were not the ones kept", now.Sub(oldest))
	}
}
