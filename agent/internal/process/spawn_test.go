package process

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestSpawnIsRecordedBeforeReadiness: OnSpawn gets the record (pid, start time, pgid, port)
// while ComfyUI is still starting, and every line it printed before it answered reaches OnLog
// before OnReady.
func TestSpawnIsRecordedBeforeReadiness(t *testing.T) {
	t.Parallel()
	gate := filepath.Join(t.TempDir(), "ready")
	spec := testSpec(t, "spawned", map[string]string{"FAKE_COMFYUI_READY_GATE": gate})
	rec := &recorder{}
	var mu sync.Mutex
	var spawned []Record
	var readyAtSpawn, guiLineBeforeReady bool
	hooks := rec.hooks()
	onReady := hooks.OnReady
	hooks.OnSpawn = func(_ string, r Record) error {
		mu.Lock()
		defer mu.Unlock()
		spawned = append(spawned, r)
		_, ready, _, _ := rec.snapshot()
		readyAtSpawn = len(ready) > 0
		return nil
	}
	hooks.OnReady = func(id string, r Record) {
		_, guiLineBeforeReady = rec.logLine("To see the GUI go to")
		onReady(id, r)
	}
	s := New(nil, hooks, testOptions())
	t.Cleanup(func() { s.StopAll(context.Background()) })

	type result struct {
		rec Record
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := s.Start(context.Background(), spec)
		done <- result{r, err}
	}()
	eventually(t, "OnSpawn", func() bool { mu.Lock(); defer mu.Unlock(); return len(spawned) == 1 })
	mu.Lock()
	sp := spawned[0]
	mu.Unlock()
	if readyAtSpawn || sp.PID <= 1 || sp.PGID != sp.PID || sp.StartTime == 0 || sp.Port != spec.Port {
		t.Fatalf("spawn record %+v (ready already: %v)", sp, readyAtSpawn)
	}
	if !alive(sp.PID, sp.StartTime) {
		t.Fatal("recorded pid is not the live process")
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil || res.rec.PID != sp.PID {
		t.Fatalf("start = %+v, %v; spawned pid %d", res.rec, res.err, sp.PID)
	}
	if !guiLineBeforeReady {
		t.Fatal("a line printed before ComfyUI answered reached OnLog after OnReady")
	}
}

// TestUnrecordableSpawnIsStopped: when the record cannot be persisted the process is killed
// and the start fails saying why: no ComfyUI runs that a restarted agent could not find.
func TestUnrecordableSpawnIsStopped(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "unrecorded", nil)
	rec := &recorder{}
	var pid int
	var start uint64
	hooks := rec.hooks()
	hooks.OnSpawn = func(_ string, r Record) error {
		pid, start = r.PID, r.StartTime
		return errors.New("disk full")
	}
	s := New(nil, hooks, testOptions())
	_, err := s.Start(context.Background(), spec)
	if err == nil || !strings.Contains(err.Error(), "could not be recorded") || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("start error = %v", err)
	}
	if pid == 0 || alive(pid, start) {
		t.Fatalf("pid %d still runs", pid)
	}
	if _, ok := s.Get("unrecorded"); ok {
		t.Fatal("the supervisor still tracks the project")
	}
}
