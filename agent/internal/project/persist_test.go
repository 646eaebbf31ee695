package project

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/store"
)

// failingStore is a real store whose writes fail when refuse says so.
type failingStore struct {
	*store.DB
	mu     sync.Mutex
	refuse func(bucket string, v any) bool
}

var errDiskFull = errors.New("disk full (injected)")

func (s *failingStore) refused(bucket string, v any) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refuse != nil && s.refuse(bucket, v)
}

func (s *failingStore) Put(bucket, key string, v any) error {
	if s.refused(bucket, v) {
		return errDiskFull
	}
	return s.DB.Put(bucket, key, v)
}

func (s *failingStore) PutAll(bucket string, records map[string]any) error {
	if s.refused(bucket, records) {
		return errDiskFull
	}
	return s.DB.PutAll(bucket, records)
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newPersistManager is a started manager on a store that fails as refuse says; repo is
// where ComfyUI is cloned from.
func newPersistManager(t *testing.T, repo string, refuse func(bucket string, v any) bool) (*Manager, *syncBuffer) {
	t.Helper()
	data := t.TempDir()
	fs := &failingStore{DB: openStore(t, filepath.Join(data, "db")), refuse: refuse}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	m := New(Deps{Store: fs, Publisher: &eventLog{}, Ports: &memPorts{}, Supervisor: newHTTPSupervisor(), Logger: logger},
		Options{DataDir: data, ModelsDir: filepath.Join(data, "models"), Repo: repo, Python: "python3", ReconcileInterval: -1})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Stop(context.Background())
		fs.DB.Close()
	})
	return m, &logs
}

func healthError(t *testing.T, m *Manager) string {
	t.Helper()
	ok, d := m.Health()
	if ok {
		t.Fatalf("health ok while writes fail: %v", d)
	}
	rec, _ := d.(map[string]any)["records"].(map[string]any)
	msg, _ := rec["error"].(string)
	return msg
}

// TestCreateReportsAnUnrecordedFailure: when the install cannot be recorded, and neither can
// the failed state, create says so instead of answering with an unsaved "failed" project.
func TestCreateReportsAnUnrecordedFailure(t *testing.T) {
	m, _ := newPersistManager(t, filepath.Join(t.TempDir(), "no-repo"), func(bucket string, v any) bool {
		p, ok := v.(Project)
		return bucket == store.BucketProjects && ok && (p.InstallOp != "" || p.State == StateFailed)
	})
	_, err := m.Create(context.Background(), CreateRequest{Name: "unrecorded"})
	if !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), "record the failure") {
		t.Fatalf("create error = %v, want the persistence failure", err)
	}
	if msg := healthError(t, m); !strings.Contains(msg, "disk full") {
		t.Fatalf("health error = %q", msg)
	}
}

// TestInstallFailureThatCannotBeRecorded: the install fails (nothing to clone) and recording
// "failed" fails too: that is logged with the project and the install's error, and health
// reports it until a write succeeds again.
func TestInstallFailureThatCannotBeRecorded(t *testing.T) {
	m, logs := newPersistManager(t, filepath.Join(t.TempDir(), "no-repo"), func(bucket string, v any) bool {
		p, ok := v.(Project)
		return bucket == store.BucketProjects && ok && p.State == StateFailed
	})
	if _, err := m.Create(context.Background(), CreateRequest{Name: "lost-failure"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(logs.String(), "record the failed install") {
		if time.Now().After(deadline) {
			t.Fatalf("the lost failure was not logged:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	out := logs.String()
	if !strings.Contains(out, "project=lost-failure") || !strings.Contains(out, "disk full") {
		t.Fatalf("log lacks context:\n%s", out)
	}
	if msg := healthError(t, m); !strings.Contains(msg, "persist project lost-failure") {
		t.Fatalf("health error = %q", msg)
	}
	// A later successful write clears it.
	if _, err := m.recs.update("lost-failure", func(p *Project) { p.State = StateReady }); err != nil {
		t.Fatal(err)
	}
	if ok, d := m.Health(); !ok {
		t.Fatalf("health after a good write: %v", d)
	}
}

// TestLogWriteFailuresAreReported: log lines that cannot be stored are logged once per
// streak and reported by health, and the book recovers when the store does.
func TestLogWriteFailuresAreReported(t *testing.T) {
	var mu sync.Mutex
	failing := true
	m, logs := newPersistManager(t, t.TempDir(), func(bucket string, v any) bool {
		mu.Lock()
		defer mu.Unlock()
		return bucket == store.BucketLogs && failing
	})
	for range 3 {
		m.logs.Add("p", LevelInfo, "a line", nil)
		if err := m.logs.Flush(); !errors.Is(err, errDiskFull) {
			t.Fatalf("flush = %v", err)
		}
	}
	if n := strings.Count(logs.String(), "project logs are not being stored"); n != 1 {
		t.Fatalf("failure logged %d times, want once:\n%s", n, logs.String())
	}
	ok, d := m.Health()
	l := d.(map[string]any)["logs"].(map[string]any)
	if ok || l["lost_lines"] != 3 || !strings.Contains(l["error"].(string), "disk full") {
		t.Fatalf("health = %v %v", ok, d)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	m.logs.Add("p", LevelInfo, "stored", nil)
	if err := m.logs.Flush(); err != nil {
		t.Fatal(err)
	}
	if ok, d := m.Health(); !ok {
		t.Fatalf("health after recovery: %v", d)
	}
	entries, _, err := m.logs.Page("p", 1, 10, "")
	if err != nil || len(entries) != 1 || entries[0].Message != "stored" {
		t.Fatalf("stored lines = %v, %v", entries, err)
	}
}
