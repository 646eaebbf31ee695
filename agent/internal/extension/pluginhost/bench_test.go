package pluginhost_test

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/agent/internal/extension/pluginhost"
	"github.com/comfylauncher/launcher/agent/internal/extension/wasmhost"
	"github.com/comfylauncher/launcher/agent/internal/extension/wasmtest"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
	"github.com/comfylauncher/launcher/wasm/mirror"
)

// One resolve of a HuggingFace reference to the mirror, the question every download asks the
// sources.
const (
	benchRef    = "hf:org/repo/sub/model.safetensors@main"
	benchConfig = `{"mirror":"https://mirror.example/m"}`
)

var (
	mirrorOnce sync.Once
	mirrorWASM string
	mirrorErr  error
)

// BenchmarkStartToFirstCall is a plugin's whole start: sha256 check, exec, handshake with
// mutual TLS, info, configure, then one resolve; and its stop.
func BenchmarkStartToFirstCall(b *testing.B) {
	_, sum := copyBin(b, "testplugin")
	for b.Loop() {
		h := pluginhost.New(pluginhost.Options{})
		l, err := h.Open(context.Background(), extension.Spec{ID: "plugin.bench", Path: bins["testplugin"], SHA256: sum, Report: func(extension.State, error) {}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.(*pluginhost.Plugin).ResolveModel(context.Background(), sdk.ResolveRequest{Reference: benchRef}); err != nil {
			b.Fatal(err)
		}
		h.Close(context.Background())
	}
}

// BenchmarkResolve is the same resolve through each transport, each through the registry's
// extension.Call (statistics, panic guard) as the agent's Resolver calls it, and the same
// code each time: the mirror model source (wasm/mirror) in-process, as a WASM module through
// wazero, and as a plugin process over gRPC with mutual TLS (testdata/mirrorplugin). The
// difference is the transport.
func BenchmarkResolve(b *testing.B) {
	ctx := context.Background()
	reg := extension.New(extension.Options{})
	b.Run("builtin", func(b *testing.B) {
		m := &mirror.Source{}
		if err := m.Configure([]byte(benchConfig)); err != nil {
			b.Fatal(err)
		}
		e, err := reg.Register(ctx, extension.Info{ID: "builtin.mirror", Transport: extension.TransportBuiltin, Capabilities: []sdk.Capability{sdk.CapModelSource}}, m)
		if err != nil {
			b.Fatal(err)
		}
		resolveLoop(b, e, m)
	})
	b.Run("wasm", func(b *testing.B) {
		mirrorOnce.Do(func() {
			dir, err := os.MkdirTemp("", "bench-wasm-")
			if err != nil {
				mirrorErr = err
				return
			}
			mods, err := wasmtest.Build(dir, "wasm/mirror/module")
			mirrorWASM, mirrorErr = mods["mirror"], err
		})
		if mirrorErr != nil {
			b.Fatal(mirrorErr)
		}
		h, err := wasmhost.New(wasmhost.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close(ctx)
		e, err := reg.Load(ctx, extension.TransportWASM, h, extension.Spec{ID: "wasm.mirror", Path: mirrorWASM, Config: []byte(benchConfig)})
		if err != nil {
			b.Fatal(err)
		}
		resolveLoop(b, e, e.Impl().(sdk.ModelSource))
	})
	b.Run("plugin", func(b *testing.B) {
		h := pluginhost.New(pluginhost.Options{})
		defer h.Close(ctx)
		path, _ := copyBin(b, "mirrorplugin")
		e, err := reg.Load(ctx, extension.TransportPlugin, h, extension.Spec{ID: "plugin.mirror", Path: path, Config: []byte(benchConfig)})
		if err != nil {
			b.Fatal(err)
		}
		resolveLoop(b, e, e.Impl().(sdk.ModelSource))
	})
}

func resolveLoop(b *testing.B, e *extension.Entry, s sdk.ModelSource) {
	ctx := context.Background()
	for b.Loop() {
		out, err := extension.Call(ctx, e, func(ctx context.Context) (sdk.ResolveResponse, error) {
			return s.ResolveModel(ctx, sdk.ResolveRequest{Reference: benchRef})
		})
		if err != nil || len(out.Candidates) != 1 {
			b.Fatal(out, err)
		}
	}
}
