package gpu

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkParseGPUs parses an 8-GPU nvidia-smi answer.
func BenchmarkParseGPUs(b *testing.B) {
	var out []byte
	for i := range 8 {
		out = fmt.Appendf(out, "%d, GPU-00000000-0000-4000-8000-%012d, NVIDIA H100 80GB HBM3, 81559, 1024, 80535, 37, 44, Disabled\n", i, i)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseGPUs(out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlace places and releases one project on an 8-GPU node holding 32 reservations
// and 64 compute processes: the cost of admission without the nvidia-smi run.
func BenchmarkPlace(b *testing.B) {
	inv := Inventory{Provider: "static"}
	for i := range 8 {
		inv.GPUs = append(inv.GPUs, gpu(i, fmt.Sprintf("GPU-%d", i), 81559, 1024))
	}
	for i := range 64 {
		inv.Apps = append(inv.Apps, ComputeApp{GPUUUID: fmt.Sprintf("GPU-%d", i%8), PID: 1000 + i, UsedMB: 512})
	}
	m, err := New(Options{provider: &staticProvider{inv: inv}, Clock: fixedClock{time.Unix(1e9, 0)}, PGIDOf: func(pid int) (int, error) { return pid, nil }})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range 32 {
		p := fmt.Sprintf("p%02d", i)
		if _, err := m.Place(ctx, PlaceRequest{ProjectID: p, EstimateMB: 2048}); err != nil {
			b.Fatal(err)
		}
		m.BindProcess(p, 1000+i)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Place(ctx, PlaceRequest{ProjectID: "bench", EstimateMB: 4096}); err != nil {
			b.Fatal(err)
		}
		m.Release("bench")
	}
}
