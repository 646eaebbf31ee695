package gpu

import (
	"context"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/store"
)

var _ PeakStore = (*store.DB)(nil)

// TestPeaksRealStore: peaks survive a restart through the real nutsdb store.
func TestPeaksRealStore(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.EnsureBuckets(peakBucket); err != nil {
		t.Fatal(err)
	}
	prov := &staticProvider{inv: Inventory{Provider: "static", GPUs: []GPU{gpu(0, uuidBig, 24576, 0)},
		Apps: []ComputeApp{{GPUUUID: uuidBig, PID: 7, UsedMB: 13000}}}}
	m, err := New(Options{provider: prov, Store: db, PGIDOf: func(pid int) (int, error) { return pid, nil }})
	if err != nil {
		t.Fatal(err)
	}
	m.BindProcess("flux", 7)
	if err := m.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err = New(Options{provider: prov, Store: db})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Estimate("flux", 8000); got != 13000 {
		t.Errorf("estimate after reopening the store = %d, want 13000", got)
	}
}
