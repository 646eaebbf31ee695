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
	"github.com/comfylauncher/launcher/agent/internal/models/sources"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// One resolve of a HuggingFace download URL, the question every download asks the sources.
const benchRef = "https://huggingface.co/org/repo/resolve/main/sub/model.safetensors"

var (
	mirrorOnce sync.Once
	mirrorWASM string
	mirrorErr  error
)

// BenchmarkStartToFirstCall is a plugin's whole start: sha256 check, exec, handshake with
// mutual TLS, info, configure, then one resolve; and its stop.
func BenchmarkStartToFirstCall(b *testing.B) {
	sum := sha256Of(b, bins["testplugin"])
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
// extension.Call (statistics, panic guard) as the agent's Resolver calls it: the built-in
// direct source in-process, the shipped WASM mirror source (wasm/mirror) through wazero,
// and a plugin process over gRPC with mutual TLS. The handlers do microseconds of string
// work each; the differences are the transports.
func BenchmarkResolve(b *testing.B) {
	ctx := context.Background()
	reg := extension.New(extension.Options{})
	b.Run("builtin", func(b *testing.B) {
		hf := sources.Direct{}
		e, err := reg.Register(ctx, extension.Info{ID: "builtin.direct", Transport: extension.TransportBuiltin, Capabilities: []sdk.Capability{sdk.CapModelSource}}, hf)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := extension.Call(ctx, e, func(ctx context.Context) (sources.Resolved, error) {
				r, ok, err := hf.Resolve(ctx, benchRef)
				if !ok {
					b.Fatal("direct did not claim the URL")
				}
				return r, err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wasm", func(b *testing.B) {
		mirrorOnce.Do(func() {
			dir, err := os.MkdirTemp("", "bench-wasm-")
			if err != nil {
				mirrorErr = err
				return
			}
			mods, err := wasmtest.Build(dir, "wasm/mirror")
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
		e, err := reg.Load(ctx, extension.TransportWASM, h, extension.Spec{ID: "wasm.mirror", Path: mirrorWASM, Config: []byte(`{"mirror":"https://mirror.example/m"}`)})
		if err != nil {
			b.Fatal(err)
		}
		m := e.Impl().(sdk.ModelSource)
		for b.Loop() {
			out, err := extension.Call(ctx, e, func(ctx context.Context) (sdk.ResolveResponse, error) {
				return m.ResolveModel(ctx, sdk.ResolveRequest{Reference: benchRef})
			})
			if err != nil || len(out.Candidates) != 1 {
				b.Fatal(out, err)
			}
		}
	})
	b.Run("plugin", func(b *testing.B) {
		h := pluginhost.New(pluginhost.Options{})
		defer h.Close(ctx)
		e, err := reg.Load(ctx, extension.TransportPlugin, h, extension.Spec{ID: "plugin.bench", Path: bins["testplugin"]})
		if err != nil {
			b.Fatal(err)
		}
		p := e.Impl().(sdk.ModelSource)
		for b.Loop() {
			if _, err := extension.Call(ctx, e, func(ctx context.Context) (sdk.ResolveResponse, error) {
				return p.ResolveModel(ctx, sdk.ResolveRequest{Reference: benchRef})
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func sha256Of(b *testing.B, path string) string {
	b.Helper()
	_, sum := copyBinTB(b, path)
	return sum
}
