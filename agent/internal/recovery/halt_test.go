package recovery

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery/clock"
)

// gatedClock is a fake clock whose first AfterFunc (a failed step scheduling its retry) tells
// scheduled and then holds the worker until release is closed, so a test can act in the
// window between the retry being scheduled and the run returning.
type gatedClock struct {
	*clock.Fake
	once      sync.Once
	scheduled chan struct{}
	release   chan struct{}
}

func (c *gatedClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	t := c.Fake.AfterFunc(d, f)
	c.once.Do(func() {
		close(c.scheduled)
		<-c.release
	})
	return t
}

// TestHaltBetweenRetryScheduledAndRunEnd cancels or pauses an operation whose failed step
// has just scheduled its retry while its run is still unwinding: the halt drops the retry
// timer, so the run itself must end the operation, or it stays recovering and Cancel waits
// forever.
func TestHaltBetweenRetryScheduledAndRunEnd(t *testing.T) {
	for _, tc := range []struct {
		name   string
		halt   func(r *Runner, id string) error
		paused bool
	}{
		{"cancel", (*Runner).Cancel, false},
		{"pause", (*Runner).Pause, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &gatedClock{
				Fake:      clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
				scheduled: make(chan struct{}),
				release:   make(chan struct{}),
			}
			stepCtx := make(chan context.Context, 4)
			def := Definition{Name: "flaky", Steps: []Step{{Name: "fetch", Run: func(ctx context.Context, op *Op) error {
				stepCtx <- ctx
				return syscall.ECONNRESET
			}}}}
			r := New(newMemStore(), &recPub{}, Options{Clock: clk, Rand: func() float64 { return 0.5 }})
			r.Register(def)
			if err := r.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Stop(context.Background()) })
			id, err := r.Submit(context.Background(), "flaky", nil)
			if err != nil {
				t.Fatal(err)
			}
			<-clk.scheduled
			if op, _ := r.Get(id); op.State != StateRecovering {
				t.Fatalf("state when the retry is scheduled = %s, want recovering", op.State)
			}
			halted := make(chan error, 1)
			go func() { halted <- tc.halt(r, id) }()
			// The halt has cancelled the run (it found it running) before the run ends.
			<-(<-stepCtx).Done()
			close(clk.release)

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			select {
			case err := <-halted:
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
			case <-ctx.Done():
				op, _ := r.Get(id)
				t.Fatalf("%s never returned; operation %s", tc.name, op.State)
			}
			op, err := r.Wait(ctx, id)
			if err != nil || op.State != StateCancelled || (op.Metadata["paused"] == true) != tc.paused {
				t.Fatalf("after %s: %s paused=%v err=%v", tc.name, op.State, op.Metadata["paused"], err)
			}
			if n := clk.Pending(); n != 0 {
				t.Fatalf("%d timers still scheduled after %s, want the retry dropped", n, tc.name)
			}
			clk.Advance(time.Hour)
			if op, _ := r.Get(id); op.State != StateCancelled {
				t.Fatalf("after the retry delay: %s, want still cancelled", op.State)
			}
			if n := len(stepCtx); n != 0 {
				t.Fatalf("step ran %d more times after %s", n, tc.name)
			}
			if tc.paused {
				if err := r.Resume(id); err != nil {
					t.Fatalf("resume: %v", err)
				}
			}
		})
	}
}
