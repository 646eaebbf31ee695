package download

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

// TestPacedWaitEndedByAStall: when a connection's wait for the checkpointer (a slow disk) ends
// because the engine stopped, a stall of any connection is a timeout (retried), not a
// cancellation (permanent, which failed the download for good).
func TestPacedWaitEndedByAStall(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cause error
		want  recovery.Class
	}{
		{"another connection stalled", ErrStalled, recovery.ClassTimeout},
		{"the download was cancelled", context.Canceled, recovery.ClassCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			e := &engine{
				a:      &attempt{d: &Downloader{opt: Options{CheckpointBytes: 1024, StallTimeout: time.Hour}}},
				ctx:    ctx,
				saved:  make(chan struct{}),
				cpKick: make(chan struct{}, 1),
			}
			e.written.Store(4096) // far past the last save: paced must wait
			done := make(chan error, 1)
			go func() { done <- e.paced(4096) }()
			<-e.cpKick // paced asked for a checkpoint and waits for it
			cancel(tc.cause)
			err := <-done
			if ClassOf(err) != tc.want {
				t.Fatalf("paced = %v (class %s), want class %s", err, ClassOf(err), tc.want)
			}
			if tc.want == recovery.ClassTimeout && !errors.Is(err, ErrStalled) {
				t.Errorf("timeout %v does not wrap ErrStalled", err)
			}
		})
	}
}
