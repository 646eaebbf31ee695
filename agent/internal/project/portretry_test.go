package project

import (
	"context"
	"testing"
)

// TestStartLeasesAnotherPortWhenTaken: a leased port taken before ComfyUI binds it costs a
// retry on another leased port, not a failed project; a fixed port is never swapped.
func TestStartLeasesAnotherPortWhenTaken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		fixed     int
		taken     int
		wantState State
		wantTries int
	}{
		{"leased port taken once", 0, 1, StateRunning, 2},
		{"leased ports taken every time", 0, leaseTries, StateFailed, leaseTries},
		{"fixed port taken", 4242, 1, StateFailed, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			ctx := context.Background()
			p, err := h.m.Create(ctx, CreateRequest{Name: "p", Port: tc.fixed})
			if err != nil {
				t.Fatal(err)
			}
			waitSettled(t, h.m, p.ID)
			h.sup.mu.Lock()
			h.sup.portTaken = tc.taken
			h.sup.mu.Unlock()
			got, err := h.m.StartProject(ctx, p.ID)
			if (err == nil) != (tc.wantState == StateRunning) || got.State != tc.wantState {
				t.Fatalf("state %s err %v; want %s", got.State, err, tc.wantState)
			}
			h.sup.mu.Lock()
			defer h.sup.mu.Unlock()
			if len(h.sup.leased) != tc.wantTries {
				t.Fatalf("starts on ports %v; want %d tries", h.sup.leased, tc.wantTries)
			}
			for i := 1; i < len(h.sup.leased); i++ {
				if h.sup.leased[i] == h.sup.leased[i-1] {
					t.Errorf("retry on the taken port again: %v", h.sup.leased)
				}
			}
		})
	}
}
