package gpu

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// staticProvider serves a fixed inventory (or error) for placement tests.
type staticProvider struct {
	mu  sync.Mutex
	inv Inventory
	err error
}

func (p *staticProvider) Name() string { return "static" }

func (p *staticProvider) Query(context.Context) (Inventory, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	inv := p.inv
	inv.GPUs = append([]GPU(nil), p.inv.GPUs...)
	inv.Apps = append([]ComputeApp(nil), p.inv.Apps...)
	return inv, p.err
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

const (
	uuidBig   = "GPU-00000000-0000-4000-8000-000000000024"
	uuidSmall = "GPU-00000000-0000-4000-8000-000000000016"
	uuidMIG   = "GPU-00000000-0000-4000-8000-000000000080"
)

func gpu(i int, uuid string, totalMB, usedMB int64) GPU {
	return GPU{Index: i, UUID: uuid, Name: "Test GPU", MemoryTotalMB: totalMB, MemoryUsedMB: usedMB, MemoryFreeMB: totalMB - usedMB,
		UtilizationPercent: 0, TemperatureC: 40, MIGMode: "Disabled"}
}

func prefList(refs ...DeviceRef) Preference { return Preference{Mode: List, Devices: refs} }

// TestPlace is the placement table. Every case has a 512 MB headroom per GPU; the two usual
// GPUs are 24 GB (index 0, 2 GB used by others) and 16 GB (index 1, 1 GB used by others):
// 22016 and 14848 MB of room when nothing is placed.
func TestPlace(t *testing.T) {
	twoGPUs := []GPU{gpu(0, uuidBig, 24576, 2048), gpu(1, uuidSmall, 16384, 1024)}
	type step struct {
		project string
		pref    Preference
		est     int64
	}
	tests := []struct {
		name     string
		gpus     []GPU
		apps     []ComputeApp
		queryErr error
		before   []step         // placements that must succeed first
		bind     map[string]int // project -> pgid (pid == pgid in these cases)
		addUsed  int64          // added to GPU 0's used memory after the before steps (their processes)
		req      step
		wantGPU  string // "" with wantCPU or wantErr
		wantCPU  bool
		wantEst  int64
		wantKind apierr.Kind
		wantType string
		wantMsg  []string // substrings of message + suggestions
	}{
		{name: "auto takes the GPU with most room", gpus: twoGPUs, req: step{"a", AutoPreference, 12288}, wantGPU: uuidBig, wantEst: 12288},
		{name: "second project spreads to the other GPU", gpus: twoGPUs, before: []step{{"a", AutoPreference, 12288}},
			req: step{"b", AutoPreference, 12288}, wantGPU: uuidSmall},
		{name: "foreign use counts", gpus: []GPU{gpu(0, uuidBig, 24576, 20000), gpu(1, uuidSmall, 16384, 1024)},
			req: step{"a", AutoPreference, 8000}, wantGPU: uuidSmall},
		{name: "exact fit is accepted", gpus: twoGPUs, req: step{"a", prefList(DeviceRef{Index: 1}), 14848}, wantGPU: uuidSmall},
		{name: "one MB over is refused", gpus: twoGPUs, req: step{"a", prefList(DeviceRef{Index: 1}), 14849},
			wantKind: apierr.Conflict, wantType: "InsufficientVRAMError", wantMsg: []string{"14849 MB", "has 14848 MB", "1 MB short"}},
		{name: "list is tried in order", gpus: twoGPUs, req: step{"a", prefList(DeviceRef{UUID: uuidSmall}, DeviceRef{UUID: uuidBig}), 4096}, wantGPU: uuidSmall},
		{name: "list falls through to the next GPU", gpus: twoGPUs, before: []step{{"x", prefList(DeviceRef{Index: 1}), 10000}},
			req: step{"a", prefList(DeviceRef{Index: 1}, DeviceRef{Index: 0}), 8000}, wantGPU: uuidBig},
		{name: "uuid match ignores case", gpus: twoGPUs, req: step{"a", prefList(DeviceRef{UUID: strings.ToLower(uuidSmall)}), 100}, wantGPU: uuidSmall},
		{name: "unknown uuid lists the known GPUs", gpus: twoGPUs, req: step{"a", prefList(DeviceRef{UUID: "GPU-nope"}), 100},
			wantKind: apierr.Invalid, wantType: "UnknownGPUError", wantMsg: []string{"GPU-nope is not on this machine", "0: " + uuidBig, "1: " + uuidSmall}},
		{name: "unknown index", gpus: twoGPUs, req: step{"a", prefList(DeviceRef{Index: 7}), 100},
			wantKind: apierr.Invalid, wantType: "UnknownGPUError", wantMsg: []string{"GPU index 7"}},
		{name: "nothing fits: stop the project holding the closest GPU", gpus: twoGPUs,
			before:   []step{{"a", AutoPreference, 12288}, {"b", AutoPreference, 12288}},
			req:      step{"c", AutoPreference, 12288},
			wantKind: apierr.Conflict, wantType: "InsufficientVRAMError",
			wantMsg: []string{"project c needs about 12288 MB", "the closest, GPU 0", "has 9728 MB (9.5 GB) free", "Stop project a (12288 MB) to free room on GPU 0", "2560 MB (2.5 GB) short"}},
		{name: "too big for any GPU", gpus: twoGPUs, req: step{"a", AutoPreference, 40000},
			wantKind: apierr.Conflict, wantType: "InsufficientVRAMError", wantMsg: []string{"even with every project stopped"}},
		{name: "none runs on the CPU", gpus: twoGPUs, req: step{"a", NonePreference, 12288}, wantCPU: true},
		{name: "auto without GPUs runs on the CPU", req: step{"a", AutoPreference, 12288}, wantCPU: true},
		{name: "pinning on a machine without GPUs", req: step{"a", prefList(DeviceRef{Index: 0}), 1},
			wantKind: apierr.Invalid, wantType: "UnknownGPUError", wantMsg: []string{"known GPUs: none", `gpu = "none"`}},
		{name: "query failure refuses GPU placement", queryErr: &QueryError{ExitCode: 18, Output: "Failed to initialize NVML: Driver/library version mismatch"},
			req: step{"a", AutoPreference, 1}, wantKind: apierr.Unavailable, wantType: "GPUQueryError", wantMsg: []string{"version mismatch", `gpu = "none"`}},
		{name: "query failure still allows none", queryErr: errors.New("boom"), req: step{"a", NonePreference, 1}, wantCPU: true},
		{name: "MIG GPU is skipped by auto", gpus: []GPU{{Index: 0, UUID: uuidMIG, Name: "A100", MemoryTotalMB: 81920, MemoryUsedMB: 0, MIGMode: "Enabled"}, gpu(1, uuidSmall, 16384, 0)},
			req: step{"a", AutoPreference, 1000}, wantGPU: uuidSmall},
		{name: "MIG GPU pinned is refused", gpus: []GPU{{Index: 0, UUID: uuidMIG, Name: "A100", MemoryTotalMB: 81920, MIGMode: "Enabled"}},
			req: step{"a", prefList(DeviceRef{Index: 0}), 1000}, wantKind: apierr.Invalid, wantType: "UnusableGPUError", wantMsg: []string{"MIG is enabled", "-mig 0"}},
		{name: "only MIG GPUs", gpus: []GPU{{Index: 0, UUID: uuidMIG, Name: "A100", MemoryTotalMB: 81920, MIGMode: "Enabled"}},
			req: step{"a", AutoPreference, 1000}, wantKind: apierr.Conflict, wantType: "NoUsableGPUError"},
		{name: "unknown estimate reserves the default", gpus: twoGPUs, req: step{"a", AutoPreference, 0}, wantGPU: uuidBig, wantEst: 4096},
		{name: "measured use above the reservation counts", gpus: []GPU{gpu(0, uuidBig, 24576, 2048)}, addUsed: 16000,
			apps:   []ComputeApp{{GPUUUID: uuidBig, PID: 100, UsedMB: 16000}},
			before: []step{{"a", AutoPreference, 8000}}, bind: map[string]int{"a": 100},
			// room = 24576-512-2048(foreign)-16000(a measured) = 6016
			req: step{"b", AutoPreference, 6017}, wantKind: apierr.Conflict, wantType: "InsufficientVRAMError", wantMsg: []string{"has 6016 MB (5.9 GB) free", "Stop project a (16000 MB"}},
		{name: "measured use below the reservation is not counted twice", gpus: []GPU{gpu(0, uuidBig, 24576, 2048)}, addUsed: 3000,
			apps:   []ComputeApp{{GPUUUID: uuidBig, PID: 100, UsedMB: 3000}},
			before: []step{{"a", AutoPreference, 8000}}, bind: map[string]int{"a": 100},
			// room = 24576-512-2048-max(8000,3000) = 14016
			req: step{"b", AutoPreference, 14016}, wantGPU: uuidBig},
		{name: "replacing a project does not count its old reservation", gpus: []GPU{gpu(0, uuidBig, 24576, 0)},
			before: []step{{"a", AutoPreference, 20000}}, req: step{"a", AutoPreference, 20000}, wantGPU: uuidBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prov := &staticProvider{inv: Inventory{Provider: "static", GPUs: tt.gpus}, err: tt.queryErr}
			m, err := New(Options{provider: prov, Clock: fixedClock{time.Unix(1e9, 0)},
				PGIDOf: func(pid int) (int, error) { return pid, nil }})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for _, s := range tt.before {
				if _, err := m.Place(ctx, PlaceRequest{ProjectID: s.project, Pref: s.pref, EstimateMB: s.est}); err != nil {
					t.Fatalf("placing %s first: %v", s.project, err)
				}
			}
			for p, g := range tt.bind {
				m.BindProcess(p, g)
			}
			prov.inv.Apps = tt.apps
			if tt.addUsed != 0 {
				prov.inv.GPUs[0].MemoryUsedMB += tt.addUsed
			}
			got, err := m.Place(ctx, PlaceRequest{ProjectID: tt.req.project, Pref: tt.req.pref, EstimateMB: tt.req.est})
			if tt.wantType != "" {
				var ae *apierr.Error
				if !errors.As(err, &ae) || ae.Kind != tt.wantKind || ae.Type != tt.wantType {
					t.Fatalf("err = %#v, want %s of kind %d", err, tt.wantType, tt.wantKind)
				}
				text := ae.Message + " | " + strings.Join(ae.Suggestions, " | ")
				for _, s := range tt.wantMsg {
					if !strings.Contains(text, s) {
						t.Errorf("error %q lacks %q", text, s)
					}
				}
				if _, placed := m.Project(tt.req.project); placed && len(tt.before) == 0 {
					t.Errorf("a refused project holds a reservation")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantCPU {
				if !got.CPU || len(got.GPUUUIDs) != 0 || got.Env["CUDA_VISIBLE_DEVICES"] != "-1" || len(got.ExtraArgs) != 1 || got.ExtraArgs[0] != "--cpu" {
					t.Errorf("placement = %+v, want the CPU with --cpu", got)
				}
				return
			}
			if got.CPU || len(got.GPUUUIDs) != 1 || got.GPUUUIDs[0] != tt.wantGPU || got.Env["CUDA_VISIBLE_DEVICES"] != tt.wantGPU {
				t.Errorf("placement = %+v, want %s", got, tt.wantGPU)
			}
			if tt.wantEst != 0 && got.EstimateMB != tt.wantEst {
				t.Errorf("reserved %d MB, want %d", got.EstimateMB, tt.wantEst)
			}
		})
	}
}

// TestCorrectedEstimate: a project measured above its workflow estimate reserves the
// measured peak next time, and keeps it after its usage drops or it is released.
func TestCorrectedEstimate(t *testing.T) {
	prov := &staticProvider{inv: Inventory{Provider: "static", GPUs: []GPU{gpu(0, uuidBig, 24576, 0)}}}
	m, err := New(Options{provider: prov, Clock: fixedClock{time.Unix(1e9, 0)}, PGIDOf: func(pid int) (int, error) { return pid / 10, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := m.Place(ctx, PlaceRequest{ProjectID: "a", EstimateMB: 6000}); err != nil {
		t.Fatal(err)
	}
	m.BindProcess("a", 50)
	// Two processes of group 50 (pids 500, 501) and a stranger (pid 700, group 70).
	prov.inv.Apps = []ComputeApp{{uuidBig, 500, 7000}, {uuidBig, 501, 2000}, {uuidBig, 700, 5000}}
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if used, ok := m.Usage("a"); !ok || used != 9000 {
		t.Fatalf("Usage = %d, %v; want 9000 from the two processes of the group", used, ok)
	}
	prov.inv.Apps = []ComputeApp{{uuidBig, 500, 1000}}
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if used, _ := m.Usage("a"); used != 1000 {
		t.Fatalf("Usage after the drop = %d, want 1000", used)
	}
	m.Release("a")
	if _, ok := m.Usage("a"); ok {
		t.Error("a released project still reports usage")
	}
	pl, err := m.Place(ctx, PlaceRequest{ProjectID: "a", EstimateMB: 6000})
	if err != nil {
		t.Fatal(err)
	}
	if pl.EstimateMB != 9000 {
		t.Errorf("next placement reserved %d MB, want the 9000 MB peak", pl.EstimateMB)
	}
	if got := m.Estimate("a", 12000); got != 12000 {
		t.Errorf("Estimate with a bigger workflow = %d, want 12000", got)
	}
	m.Observe("a", 15000)
	if got := m.Peaks()["a"]; got != 15000 {
		t.Errorf("peak after Observe = %d, want 15000", got)
	}
}

// TestHealth: failures become warnings and recover.
func TestHealth(t *testing.T) {
	prov := &staticProvider{inv: Inventory{Provider: "static", GPUs: []GPU{gpu(0, uuidBig, 24576, 0)}}}
	m, err := New(Options{provider: prov, Clock: fixedClock{time.Unix(1e9, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	if ok, w := m.Health(); !ok || w != "" {
		t.Fatalf("before any query: %v %q", ok, w)
	}
	prov.err = &QueryError{ExitCode: 18, Output: "Failed to initialize NVML: Driver/library version mismatch"}
	if err := m.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh hid the provider error")
	}
	if ok, w := m.Health(); ok || !strings.Contains(w, "Driver/library version mismatch") || !strings.Contains(w, "reboot") {
		t.Errorf("Health = %v %q; want a warning naming the cause and the fix", ok, w)
	}
	prov.err = nil
	_ = m.Refresh(context.Background())
	if ok, w := m.Health(); !ok || w != "" {
		t.Errorf("after recovery Health = %v %q", ok, w)
	}
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"auto by default", Options{}, ""},
		{"none", Options{Provider: "none"}, ""},
		{"unknown provider", Options{Provider: "rocm"}, `"rocm" is not one of`},
		{"fake without GPUs", Options{Provider: "fake"}, "at least one fake GPU"},
		{"fake with a bad uuid", Options{Provider: "fake", Fake: []FakeGPU{{UUID: "0", MemoryTotalMB: 1}}}, "must start with GPU-"},
		{"fake used above total", Options{Provider: "fake", Fake: []FakeGPU{{UUID: "GPU-a", MemoryTotalMB: 1, MemoryUsedMB: 2}}}, "between 0 and"},
		{"fake twice", Options{Provider: "fake", Fake: []FakeGPU{{UUID: "GPU-a", MemoryTotalMB: 1}, {UUID: "gpu-A", MemoryTotalMB: 1}}}, "listed twice"},
		{"fake ok", Options{Provider: "fake", Fake: []FakeGPU{{UUID: "GPU-a", MemoryTotalMB: 8192}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("New = %v, want error %q", err, tt.wantErr)
			}
		})
	}
}

// TestPlaceConcurrent: simultaneous starts never take the same room twice.
func TestPlaceConcurrent(t *testing.T) {
	// 512 headroom + 5 x 4096 fits in 21000 MB; a sixth does not.
	prov := &staticProvider{inv: Inventory{Provider: "static", GPUs: []GPU{gpu(0, uuidBig, 21000, 0)}}}
	m, err := New(Options{provider: prov})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = m.Place(context.Background(), PlaceRequest{ProjectID: string(rune('a' + i)), EstimateMB: 4096})
		})
	}
	wg.Wait()
	placed := 0
	for _, err := range errs {
		if err == nil {
			placed++
		} else if !apierr.Is(err, apierr.Conflict) {
			t.Errorf("unexpected error %v", err)
		}
	}
	if placed != 5 {
		t.Errorf("%d of 20 concurrent placements succeeded, want exactly 5", placed)
	}
}

// TestRestore: a project re-adopted after an agent restart keeps its room without an
// admission check, and its running process is not counted twice.
func TestRestore(t *testing.T) {
	prov := &staticProvider{inv: Inventory{Provider: "static",
		GPUs: []GPU{gpu(0, uuidBig, 24576, 20000)},
		Apps: []ComputeApp{{GPUUUID: uuidBig, PID: 42, UsedMB: 20000}}}}
	m, err := New(Options{provider: prov, PGIDOf: func(pid int) (int, error) { return pid, nil }})
	if err != nil {
		t.Fatal(err)
	}
	m.Restore("a", Placement{GPUUUIDs: []string{uuidBig}, EstimateMB: 12000}, 42)
	snap := m.Snapshot(context.Background())
	g := snap.GPUs[0]
	if len(g.Projects) != 1 || g.Projects[0].ProjectID != "a" || g.ReservedMB != 20000 || *g.AvailableMB != 24576-512-20000 {
		t.Errorf("after Restore: %+v (available %d)", g, *g.AvailableMB)
	}
}

// memStore is an in-memory PeakStore.
type memStore struct {
	mu sync.Mutex
	kv map[string][]byte
}

func (s *memStore) Put(bucket, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kv[bucket+"|"+key] = b
	return nil
}

func (s *memStore) Delete(bucket, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.kv, bucket+"|"+key)
	return nil
}

func (s *memStore) Scan(bucket, prefix string, fn func(string, []byte) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.kv {
		if key, ok := strings.CutPrefix(k, bucket+"|"); ok && strings.HasPrefix(key, prefix) {
			if err := fn(key, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestPeaksPersist: a peak measured before an agent restart corrects the next placement
// after it; Forget removes it.
func TestPeaksPersist(t *testing.T) {
	st := &memStore{kv: map[string][]byte{}}
	prov := &staticProvider{inv: Inventory{Provider: "static", GPUs: []GPU{gpu(0, uuidBig, 24576, 0)},
		Apps: []ComputeApp{{GPUUUID: uuidBig, PID: 7, UsedMB: 11000}}}}
	opts := Options{provider: prov, Store: st, PGIDOf: func(pid int) (int, error) { return pid, nil }}
	m1, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	m1.BindProcess("a", 7)
	if err := m1.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	m2, err := New(opts) // the restarted agent
	if err != nil {
		t.Fatal(err)
	}
	if got := m2.Estimate("a", 6000); got != 11000 {
		t.Errorf("estimate after restart = %d, want the stored 11000 MB peak", got)
	}
	m2.Forget("a")
	m3, _ := New(opts)
	if got := m3.Estimate("a", 6000); got != 6000 {
		t.Errorf("estimate after Forget = %d, want 6000", got)
	}
}
