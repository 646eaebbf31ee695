package gpuhttp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/gpu"
	"github.com/comfylauncher/launcher/agent/internal/gpu/gpuhttp"
)

// TestListGPUs: GET /api/gpus serves the manager's snapshot: the fake GPU with its placement,
// the numbers the provider does not report as null, and empty lists rather than null.
func TestListGPUs(t *testing.T) {
	t.Parallel()
	const uuid = "GPU-3a1f0c2e-5b7d-4c9e-8f10-2a3b4c5d6e7f"
	m, err := gpu.New(gpu.Options{Provider: gpu.ProviderFake, ReserveMB: 512,
		Fake: []gpu.FakeGPU{{UUID: uuid, Name: "Demo", MemoryTotalMB: 8192, MemoryUsedMB: 1024}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Place(context.Background(), gpu.PlaceRequest{ProjectID: "p", EstimateMB: 4096}); err != nil {
		t.Fatal(err)
	}
	r := httprouter.New()
	gpuhttp.Routes(r, m)
	srv := httptest.NewServer(r)
	defer srv.Close()

	res, err := http.Get(srv.URL + "/api/gpus")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/gpus = %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	gpus, _ := body["gpus"].([]any)
	if body["provider"] != gpu.ProviderFake || len(gpus) != 1 {
		t.Fatalf("body = %v", body)
	}
	g := gpus[0].(map[string]any)
	if g["uuid"] != uuid || g["memory_total_mb"] != float64(8192) || g["available_mb"] != float64(8192-512-1024-4096) {
		t.Errorf("gpu = %v", g)
	}
	if v, ok := g["temperature_c"]; !ok || v != nil {
		t.Errorf("temperature_c = %v (present %v), want null: the fake does not report it", v, ok)
	}
	if ps, _ := g["projects"].([]any); len(ps) != 1 || ps[0].(map[string]any)["project_id"] != "p" {
		t.Errorf("projects = %v", g["projects"])
	}
	if cpu, ok := body["cpu_projects"].([]any); !ok || len(cpu) != 0 {
		t.Errorf("cpu_projects = %v, want []", body["cpu_projects"])
	}
}
