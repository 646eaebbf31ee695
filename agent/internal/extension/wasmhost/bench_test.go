package wasmhost

import (
	"context"
	"encoding/json"
	"runtime"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/agent/internal/extension/wasmtest"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
	"github.com/comfylauncher/launcher/wasm/classify"
	"github.com/comfylauncher/launcher/wasm/housenodes"
	"github.com/comfylauncher/launcher/wasm/mirror"
)

// Run with: go test -run '^$' -bench . ./agent/internal/extension/wasmhost/

const (
	houseConfig  = `{"loaders":[{"node_type":"AcmeLoader","input":"ckpt","folder":"checkpoints"}]}`
	mirrorConfig = `{"mirror":"https://mirror.example/m"}`
)

var (
	benchParse = sdk.ParseRequest{Format: "api", Nodes: []sdk.WorkflowNode{
		{ID: "1", Type: "AcmeLoader", Inputs: map[string]any{"ckpt": "acme-v3.safetensors"}},
		{ID: "2", Type: "KSampler", Inputs: map[string]any{"seed": 1.0, "steps": 20.0}},
	}}
	benchResolve  = sdk.ResolveRequest{Reference: "hf:org/repo/sub/model.safetensors@main"}
	benchStrategy = sdk.StrategyInput{Class: "unknown", Message: "ERROR: No matching distribution found for torch==9.9", Attempt: 1}
)

// capabilityCase is one capability: the module that implements it and the same Go code
// in-process.
type capabilityCase struct {
	name   string
	module string
	config string
	wasm   func(ctx context.Context, m *Module) error
	native func(ctx context.Context) (func(ctx context.Context) error, error)
}

// viaJSON is what a transport adds to an in-process call: the request and the answer each
// encoded and decoded once.
func viaJSON[Req, Resp any](req Req, fn func(Req) (Resp, error)) error {
	raw, _ := json.Marshal(req)
	var in Req
	if err := json.Unmarshal(raw, &in); err != nil {
		return err
	}
	out, err := fn(in)
	if err != nil {
		return err
	}
	raw, _ = json.Marshal(out)
	return json.Unmarshal(raw, &out)
}

var capabilityCases = []capabilityCase{
	{
		name: "workflow_parser", module: "housenodes", config: houseConfig,
		wasm: func(ctx context.Context, m *Module) error { _, err := m.ParseWorkflow(ctx, benchParse); return err },
		native: func(context.Context) (func(context.Context) error, error) {
			p := &housenodes.Parser{}
			return func(ctx context.Context) error {
				return viaJSON(benchParse, func(r sdk.ParseRequest) (sdk.ParseResult, error) { return p.ParseWorkflow(ctx, r) })
			}, p.Configure(json.RawMessage(houseConfig))
		},
	},
	{
		name: "model_source", module: "mirror", config: mirrorConfig,
		wasm: func(ctx context.Context, m *Module) error { _, err := m.ResolveModel(ctx, benchResolve); return err },
		native: func(context.Context) (func(context.Context) error, error) {
			s := &mirror.Source{}
			return func(ctx context.Context) error {
				return viaJSON(benchResolve, func(r sdk.ResolveRequest) (sdk.ResolveResponse, error) { return s.ResolveModel(ctx, r) })
			}, s.Configure(json.RawMessage(mirrorConfig))
		},
	},
	{
		name: "recovery_strategy", module: "classify",
		wasm: func(ctx context.Context, m *Module) error { _, err := m.Decide(ctx, benchStrategy); return err },
		native: func(context.Context) (func(context.Context) error, error) {
			s := &classify.Strategy{}
			return func(ctx context.Context) error {
				return viaJSON(benchStrategy, func(r sdk.StrategyInput) (sdk.StrategyDecision, error) { return s.Decide(ctx, r) })
			}, s.Configure(nil)
		},
	},
}

// BenchmarkCall is one call per capability, JSON in and out: through the WASM transport (pool,
// deadline, close-on-context-done) and the same code called in-process with the same JSON.
func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	for _, c := range capabilityCases {
		b.Run(c.name+"/wasm", func(b *testing.B) {
			m, _ := mustOpen(b, c.module, extension.Limits{}, c.config)
			wasmtest.ReportCPU(b, func() {
				if err := c.wasm(ctx, m); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run(c.name+"/in-process", func(b *testing.B) {
			call, err := c.native(ctx)
			if err != nil {
				b.Fatal(err)
			}
			wasmtest.ReportCPU(b, func() {
				if err := call(ctx); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkParallel8 is calls per second with 8 concurrent callers sharing one module's pool.
func BenchmarkParallel8(b *testing.B) {
	m, _ := mustOpen(b, "classify", extension.Limits{}, "")
	ctx := context.Background()
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
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
	wasmtest.ReportCPU(b, func() { load(b, "") })
}

// BenchmarkCachedLoad is an agent restart: a new Host on a warm on-disk cache loads the module
// (compile from cache, first instance, ABI check, cmfy_init).
func BenchmarkCachedLoad(b *testing.B) {
	dir := b.TempDir()
	load(b, dir) // warm the cache
	b.ResetTimer()
	wasmtest.ReportCPU(b, func() { load(b, dir) })
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
