package wasmhost

import (
	"context"
	"runtime"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// The in-process baselines of the same code are the Benchmark*Native benchmarks in
// wasm/mirror, wasm/housenodes and wasm/classify; run them in the same command:
//
//	go test -run '^$' -bench . ./agent/internal/extension/wasmhost/ ./wasm/...

var (
	benchParse = sdk.ParseRequest{Format: "api", Nodes: []sdk.WorkflowNode{
		{ID: "1", Type: "AcmeLoader", Inputs: map[string]any{"ckpt": "acme-v3.safetensors"}},
		{ID: "2", Type: "KSampler", Inputs: map[string]any{"seed": 1.0, "steps": 20.0}},
	}}
	benchResolve  = sdk.ResolveRequest{Reference: "hf:org/repo/sub/model.safetensors@main"}
	benchStrategy = sdk.StrategyInput{Class: "unknown", Message: "ERROR: No matching distribution found for torch==9.9", Attempt: 1}
)

// BenchmarkCall is one call per capability, JSON in and out, through the pool.
func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	b.Run("workflow_parser", func(b *testing.B) {
		m, _ := mustOpen(b, "housenodes", extension.Limits{}, `{"loaders":[{"node_type":"AcmeLoader","input":"ckpt","folder":"checkpoints"}]}`)
		for b.Loop() {
			if _, err := m.ParseWorkflow(ctx, benchParse); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("model_source", func(b *testing.B) {
		m, _ := mustOpen(b, "mirror", extension.Limits{}, `{"mirror":"https://mirror.example/m"}`)
		for b.Loop() {
			if _, err := m.ResolveModel(ctx, benchResolve); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("recovery_strategy", func(b *testing.B) {
		m, _ := mustOpen(b, "classify", extension.Limits{}, "")
		for b.Loop() {
			if _, err := m.Decide(ctx, benchStrategy); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkParallel8 is calls per second with 8 concurrent callers sharing one module's pool.
func BenchmarkParallel8(b *testing.B) {
	m, _ := mustOpen(b, "classify", extension.Limits{}, "")
	ctx := context.Background()
	b.SetParallelism(max(1, 8/max(1, runtimeProcs())))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Decide(ctx, benchStrategy); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkColdCompile loads a module with an empty compilation cache.
func BenchmarkColdCompile(b *testing.B) {
	for b.Loop() {
		load(b, "")
	}
}

// BenchmarkCachedLoad is an agent restart: a new Host on a warm on-disk cache loads the module
// (compile from cache, first instance, ABI check, cmfy_init).
func BenchmarkCachedLoad(b *testing.B) {
	dir := b.TempDir()
	load(b, dir) // warm the cache
	b.ResetTimer()
	for b.Loop() {
		load(b, dir)
	}
}

func load(b *testing.B, cacheDir string) {
	h, err := New(Options{CacheDir: cacheDir})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(context.Background())
	if _, err := h.Open(context.Background(), extension.Spec{ID: "wasm.classify", Path: modules["classify"]}); err != nil {
		b.Fatal(err)
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
