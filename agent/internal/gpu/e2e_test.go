package gpu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// stepClock is a clock the test moves forward to expire the inventory cache.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stepClock) Step(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const (
	e2eBig   = "GPU-3a1f0c2e-5b7d-4c9e-8f10-2a3b4c5d6e7f"
	e2eSmall = "GPU-9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
)

// writeSMIState rewrites the fake nvidia-smi's state file; it is read on every run.
func writeSMIState(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func gpuSpec(bigUsed, smallUsed int64) string {
	return fmt.Sprintf("FAKE_NVIDIA_SMI_SPEC='NVIDIA RTX A5000|24576|%d|%s|12|51;NVIDIA RTX A4000|16384|%d|%s|0|38'", bigUsed, e2eBig, smallUsed, e2eSmall)
}

// TestEndToEndFakeNvidiaSMI drives a real Manager through the fake nvidia-smi on PATH: two
// projects land on different GPUs pinned by UUID, a third is refused with a 409 that says what
// to stop, the GET /api/gpus snapshot shows placements and the usage measured from compute processes, and
// a driver failure becomes a warning.
func TestEndToEndFakeNvidiaSMI(t *testing.T) {
	state := filepath.Join(t.TempDir(), "smi.env")
	logFile := filepath.Join(t.TempDir(), "smi.log")
	fakeSMI(t, map[string]string{"FAKE_NVIDIA_SMI_CONFIG": state, "FAKE_NVIDIA_SMI_LOG": logFile})
	writeSMIState(t, state, gpuSpec(2048, 1024))

	clock := &stepClock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	m, err := New(Options{Provider: ProviderNvidiaSMI, NvidiaSMI: "nvidia-smi", ReserveMB: 512, RefreshInterval: time.Minute, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const est = 12 * 1024

	// A and B land on different GPUs, pinned by UUID.
	a, err := m.Place(ctx, PlaceRequest{ProjectID: "proj-a", Pref: AutoPreference, EstimateMB: est})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Place(ctx, PlaceRequest{ProjectID: "proj-b", Pref: AutoPreference, EstimateMB: est})
	if err != nil {
		t.Fatal(err)
	}
	if a.Env["CUDA_VISIBLE_DEVICES"] != e2eBig || b.Env["CUDA_VISIBLE_DEVICES"] != e2eSmall {
		t.Fatalf("CUDA_VISIBLE_DEVICES = %q and %q, want %s and %s", a.Env["CUDA_VISIBLE_DEVICES"], b.Env["CUDA_VISIBLE_DEVICES"], e2eBig, e2eSmall)
	}

	// C fits nowhere: 24576-512-2048-12288 = 9728 MB on the big GPU, 2560 on the small one.
	_, err = m.Place(ctx, PlaceRequest{ProjectID: "proj-c", Pref: AutoPreference, EstimateMB: est})
	var refusal *apierr.Error
	if !errors.As(err, &refusal) || apierr.Status(refusal.Kind) != http.StatusConflict || refusal.Type != "InsufficientVRAMError" {
		t.Fatalf("refusal = %v, want 409 InsufficientVRAMError", err)
	}
	// The envelope's extra fields, as the client reads them.
	raw, err := json.Marshal(refusal.Fields)
	if err != nil {
		t.Fatal(err)
	}
	env := struct {
		Error        string
		Suggestions  []string
		EstimateMB   int64    `json:"estimate_mb"`
		ClosestGPU   string   `json:"closest_gpu"`
		StopProjects []string `json:"stop_projects"`
	}{Error: refusal.Message, Suggestions: refusal.Suggestions}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(env.Error, "needs about 12288 MB") || !strings.Contains(env.Error, "9728 MB") || !strings.Contains(env.Error, e2eBig) {
		t.Errorf("message %q should name the estimate and the best GPU's free memory", env.Error)
	}
	if env.EstimateMB != est || env.ClosestGPU != e2eBig || len(env.StopProjects) != 1 || env.StopProjects[0] != "proj-a" {
		t.Errorf("envelope fields = %+v", env)
	}
	if s := strings.Join(env.Suggestions, " | "); !strings.Contains(s, "Stop project proj-a") || !strings.Contains(s, "is the closest") {
		t.Errorf("suggestions %q should say which project to stop and which GPU is closest", s)
	}

	// A's ComfyUI starts in this test's process group and allocates 9000 MB on the big GPU.
	pgid := selfPGID(t)
	m.BindProcess("proj-a", pgid)
	writeSMIState(t, state, gpuSpec(2048+9000+300, 1024),
		fmt.Sprintf("FAKE_NVIDIA_SMI_PROCS='0|%d|9000|python3;0|%d|300|Xorg'", os.Getpid(), 1<<30))
	clock.Step(2 * time.Minute)

	got := getGPUs(t, m)
	if got.Provider != ProviderNvidiaSMI || len(got.GPUs) != 2 || len(got.Warnings) != 0 {
		t.Fatalf("GET /api/gpus = %+v", got)
	}
	big, small := got.GPUs[0], got.GPUs[1]
	if big.UUID != e2eBig || big.Name != "NVIDIA RTX A5000" || *big.MemoryTotalMB != 24576 || *big.TemperatureC != 51 || *big.UtilizationPercent != 12 {
		t.Errorf("big GPU = %+v", big)
	}
	if len(big.Projects) != 1 || big.Projects[0].ProjectID != "proj-a" || big.Projects[0].UsedMB == nil || *big.Projects[0].UsedMB != 9000 || big.Projects[0].ReservedMB != est {
		t.Errorf("big GPU projects = %+v, want proj-a reserving %d and using 9000", big.Projects, est)
	}
	// Foreign use is the 2048 MB from the start plus the 300 MB process outside any project.
	if big.AvailableMB == nil || *big.AvailableMB != 24576-512-(2048+300)-est {
		t.Errorf("big GPU available = %v, want %d", big.AvailableMB, 24576-512-(2048+300)-est)
	}
	if len(small.Projects) != 1 || small.Projects[0].ProjectID != "proj-b" || small.Projects[0].UsedMB != nil || small.ReservedMB != est {
		t.Errorf("small GPU = %+v, want proj-b reserved and not measured", small)
	}
	if pg, ok := m.Project("proj-a"); !ok || pg.UsedMB == nil || *pg.UsedMB != 9000 || pg.GPUUUIDs[0] != e2eBig {
		t.Errorf("Project(proj-a) = %+v, %v", pg, ok)
	}

	// Stopping A makes room for C.
	m.Release("proj-a")
	writeSMIState(t, state, gpuSpec(2048, 1024))
	c, err := m.Place(ctx, PlaceRequest{ProjectID: "proj-c", Pref: AutoPreference, EstimateMB: est})
	if err != nil || c.GPUUUIDs[0] != e2eBig {
		t.Fatalf("after stopping proj-a, proj-c placement = %+v, %v", c, err)
	}

	// The driver breaks: the API keeps serving with a warning, starts get a 503.
	writeSMIState(t, state, "FAKE_NVIDIA_SMI_FAIL='Failed to initialize NVML: Driver/library version mismatch'")
	clock.Step(2 * time.Minute)
	got = getGPUs(t, m)
	if len(got.GPUs) != 0 || len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "Driver/library version mismatch") {
		t.Errorf("with a broken driver GET /api/gpus = %+v", got)
	}
	if ok, _ := m.Health(); ok {
		t.Error("Health is ok with a broken driver")
	}
	_, err = m.Place(ctx, PlaceRequest{ProjectID: "proj-d", Pref: AutoPreference, EstimateMB: 1})
	if !apierr.Is(err, apierr.Unavailable) {
		t.Errorf("placement with a broken driver = %v, want Unavailable", err)
	}

	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "--query-gpu="+gpuFields+" --format=csv,noheader,nounits") {
		t.Errorf("the fake saw no query with the documented fields:\n%s", log)
	}
}

// getGPUs is what GET /api/gpus serves (package gpuhttp), read back from its JSON.
func getGPUs(t *testing.T, m *Manager) GPUsResponse {
	t.Helper()
	raw, err := json.Marshal(m.Snapshot(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	var out GPUsResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFakeProviderAndNone checks the two providers that need no binary.
func TestFakeProviderAndNone(t *testing.T) {
	fake, err := New(Options{Provider: ProviderFake, Fake: []FakeGPU{{UUID: e2eBig, Name: "Demo", MemoryTotalMB: 8192, MemoryUsedMB: 1024}}})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := fake.Place(context.Background(), PlaceRequest{ProjectID: "p", EstimateMB: 4096})
	if err != nil || pl.Env["CUDA_VISIBLE_DEVICES"] != e2eBig {
		t.Fatalf("fake placement = %+v, %v", pl, err)
	}
	snap := fake.Snapshot(context.Background())
	if snap.Provider != ProviderFake || len(snap.GPUs) != 1 || *snap.GPUs[0].AvailableMB != 8192-512-1024-4096 {
		t.Errorf("fake snapshot = %+v", snap)
	}

	none, err := New(Options{Provider: ProviderNone})
	if err != nil {
		t.Fatal(err)
	}
	pl, err = none.Place(context.Background(), PlaceRequest{ProjectID: "p", EstimateMB: 4096})
	if err != nil || !pl.CPU || pl.ExtraArgs[0] != "--cpu" {
		t.Fatalf("none placement = %+v, %v", pl, err)
	}
	snap = none.Snapshot(context.Background())
	if snap.Provider != ProviderNone || len(snap.CPUProjects) != 1 || len(snap.Warnings) != 0 {
		t.Errorf("none snapshot = %+v", snap)
	}
	if ok, w := none.Health(); !ok || w != "" {
		t.Errorf("none health = %v %q", ok, w)
	}
	_, err = none.Place(context.Background(), PlaceRequest{ProjectID: "q", Pref: prefList(DeviceRef{Index: 0})})
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Type != "UnknownGPUError" {
		t.Errorf("pinning with provider none = %v", err)
	}
}
