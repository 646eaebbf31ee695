package recovery

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// busyMeter counts steps that run (not wait) at once and remembers the most it saw.
type busyMeter struct {
	mu        sync.Mutex
	now, most int
}

func (b *busyMeter) add(d int) {
	b.mu.Lock()
	b.now += d
	b.most = max(b.most, b.now)
	b.mu.Unlock()
}

// TestParentsWaitingOnChildrenDoNotStarve: with one worker, two operations whose step waits
// for a child operation (an install waiting for its model download) both finish: a waiting
// parent gives its worker to the child, and no more than one step runs at a time.
func TestParentsWaitingOnChildrenDoNotStarve(t *testing.T) {
	var busy busyMeter
	var r *Runner
	child := Definition{Name: "download", Steps: []Step{{Name: "fetch", Run: func(ctx context.Context, op *Op) error {
		busy.add(1)
		defer busy.add(-1)
		return nil
	}}}}
	parent := Definition{Name: "install", Steps: []Step{{Name: "files", Run: func(ctx context.Context, op *Op) error {
		busy.add(1)
		defer busy.add(-1)
		for i := range 2 {
			id, err := r.Submit(ctx, "download", map[string]any{"n": i})
			if err != nil {
				return err
			}
			busy.add(-1)
			got, err := r.Wait(ctx, id)
			busy.add(1)
			if err != nil {
				return err
			}
			if got.State != StateSuccess {
				return fmt.Errorf("child %s ended %s", id, got.State)
			}
		}
		return nil
	}}}}
	h := newHarness(t, Options{Workers: 1}, child, parent)
	r = h.r
	var ids []string
	for range 2 {
		id, err := r.Submit(t.Context(), "install", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		if op := h.wait(id); op.State != StateSuccess {
			t.Fatalf("%s ended %s: %s", id, op.State, op.Error)
		}
	}
	if busy.most != 1 {
		t.Fatalf("%d steps ran at once with one worker", busy.most)
	}
}

// TestWaitOutsideAStepKeepsNoSlot: a Wait from outside any step (an API handler) neither
// gives up nor takes a worker slot, and an idle runner holds none.
func TestWaitOutsideAStepKeepsNoSlot(t *testing.T) {
	def := Definition{Name: "noop", Steps: []Step{{Name: "s", Run: func(ctx context.Context, op *Op) error { return nil }}}}
	h := newHarness(t, Options{Workers: 1}, def)
	for range 3 {
		id, err := h.r.Submit(t.Context(), "noop", nil)
		if err != nil {
			t.Fatal(err)
		}
		h.wait(id)
		h.wait(id)
	}
	if n := len(h.r.sched.slots); n != 0 {
		t.Fatalf("%d worker slots held with nothing running", n)
	}
}
