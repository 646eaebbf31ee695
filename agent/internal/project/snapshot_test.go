package project

import (
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/hub"
)

func TestHubSnapshotAndLogEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	p, err := h.m.Create(t.Context(), CreateRequest{Name: "snap"})
	if err != nil {
		t.Fatal(err)
	}
	waitSettled(t, h.m, p.ID)
	for _, tc := range []struct {
		kind, id, event string
		min             int
	}{
		{hub.KindProject, p.ID, "progress_update", 1},
		{hub.KindLogs, p.ID, "log_entry", 10},
		{hub.KindProject, "nope", "", 0},
		{hub.KindRecovery, "all", "", 0},
	} {
		t.Run(tc.kind+"/"+tc.id, func(t *testing.T) {
			evs := h.m.Snapshot(tc.kind, tc.id)
			if len(evs) < tc.min || (tc.min == 0 && len(evs) != 0) {
				t.Fatalf("%d events", len(evs))
			}
			for _, e := range evs {
				data := e.Data.(map[string]any)
				if e.Name != tc.event || data["project_id"] != tc.id {
					t.Fatalf("event %+v", e)
				}
			}
		})
	}
	if n := h.ev.count(hub.LogsTopic(p.ID) + " log_entry"); n < 10 {
		t.Fatalf("%d log_entry events published", n)
	}
	if DetectLevel("ERROR: No matching distribution found for torch") != LevelError ||
		DetectLevel("WARNING: pip is out of date") != LevelWarning ||
		DetectLevel("Cloning into 'x'...") != LevelInfo ||
		DetectLevel("Traceback (most recent call last):") != LevelError {
		t.Fatal("DetectLevel")
	}
}
