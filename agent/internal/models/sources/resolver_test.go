package sources_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/agent/internal/models/sources"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// extSource is a transport-side model source (what a WASM module or plugin implements).
type extSource struct {
	prefix string
	err    error
}

func (s extSource) Manifest() sdk.Manifest {
	return sdk.Manifest{Name: "x", Capabilities: []sdk.Capability{sdk.CapModelSource}}
}
func (extSource) Close(context.Context) error { return nil }

func (s extSource) ResolveModel(_ context.Context, req sdk.ResolveRequest) (sdk.ResolveResponse, error) {
	if s.err != nil {
		return sdk.ResolveResponse{}, s.err
	}
	if req.Reference != "" && !strings.HasPrefix(req.Reference, s.prefix) {
		return sdk.ResolveResponse{}, nil
	}
	return sdk.ResolveResponse{Candidates: []sdk.Download{{ModelCandidate: sdk.ModelCandidate{
		URL: "https://mirror.example/" + strings.TrimPrefix(req.Reference+req.Query.Name, s.prefix), Filename: "m.safetensors", Confidence: 0.95,
	}}}}, nil
}

type opener struct{ l extension.Loaded }

func (o opener) Open(context.Context, extension.Spec) (extension.Loaded, error) { return o.l, nil }

func TestResolverAsksExtensionsInOrder(t *testing.T) {
	ctx := context.Background()
	reg := extension.New(extension.Options{})
	if err := sources.Register(ctx, reg, sources.Direct{}); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]extSource{"mirror": {prefix: "https://files.example/"}, "broken": {err: errors.New("wasm instance crashed: boom")}} {
		if _, err := reg.Load(ctx, extension.TransportWASM, opener{s}, extension.Spec{ID: "wasm." + name}); err != nil {
			t.Fatal(err)
		}
	}
	reg.SetOrder(sdk.CapModelSource, []string{"wasm.broken", "wasm.mirror", "direct"})
	r := sources.NewResolver(reg)

	// The extension claims its URLs before the direct source; a failing one is skipped.
	res, err := r.Resolve(ctx, "https://files.example/a.safetensors")
	if err != nil || res.Source != "wasm.mirror" || res.URL != "https://mirror.example/a.safetensors" {
		t.Errorf("resolve = %+v, %v", res, err)
	}
	if res, err := r.Resolve(ctx, "https://other.example/b.ckpt"); err != nil || res.Source != "direct" {
		t.Errorf("unclaimed URL = %+v, %v", res, err)
	}
	_, err = r.Resolve(ctx, "civitai:1")
	if !errors.Is(err, sources.ErrUnresolvable) || !strings.Contains(err.Error(), "wasm.broken") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("nobody resolves: the error must name the source that failed: %v", err)
	}

	cands, failures := r.Suggest(ctx, sdk.ModelQuery{Name: "m.safetensors", URL: "https://x.example/m.safetensors"})
	if len(failures) != 1 || failures[0].Extension != "wasm.broken" || !strings.Contains(failures[0].Error, "boom") {
		t.Errorf("failures = %+v", failures)
	}
	if len(cands) != 2 || cands[0].Source != "wasm.mirror" || cands[1].Source != "direct" {
		t.Errorf("candidates = %+v", cands)
	}
	if e, _ := reg.Get("wasm.broken"); e.Status().Stats.Errors < 2 || e.Status().LastError == "" {
		t.Errorf("the registry must record the failing source: %+v", e.Status())
	}
	if got := strings.Join(r.IDs(), ","); got != "wasm.broken,wasm.mirror,builtin.direct" {
		t.Errorf("ids = %s", got)
	}
}
