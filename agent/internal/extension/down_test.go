package extension

import (
	"context"
	"errors"
	"strings"
	"testing"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// reporting is a transport whose extension reports state changes after it loaded, as the
// plugin host does for a process that exits and comes back.
type reporting struct{ report func(State, error) }

type loadedSource struct{}

func (loadedSource) Manifest() sdk.Manifest {
	return sdk.Manifest{Name: "p", Version: "1", Capabilities: []sdk.Capability{sdk.CapModelSource}}
}
func (loadedSource) Close(context.Context) error { return nil }
func (loadedSource) ResolveModel(context.Context, sdk.ResolveRequest) (sdk.ResolveResponse, error) {
	return sdk.ResolveResponse{}, nil
}

func (r *reporting) Open(_ context.Context, spec Spec) (Loaded, error) {
	r.report = spec.Report
	return loadedSource{}, nil
}

// TestDownIsNotAskedAndIsAWarning: an extension its transport reports down is skipped by
// Ordered and named in the warnings (not a failure: health stays ok), and is asked again once
// it is back.
func TestDownIsNotAskedAndIsAWarning(t *testing.T) {
	r := New(Options{})
	tr := &reporting{}
	if _, err := r.Load(context.Background(), TransportPlugin, tr, Spec{ID: "plugin.p", Path: "/x"}); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Ordered(sdk.CapModelSource)); n != 1 {
		t.Fatalf("ordered = %d, want the loaded plugin", n)
	}
	tr.report(StateDown, errors.New("plugin process signal: killed"))
	if n := len(r.Ordered(sdk.CapModelSource)); n != 0 {
		t.Fatal("a down extension is still asked")
	}
	ok, _ := r.Health()
	w := strings.Join(r.Warnings(), "\n")
	if !ok || !strings.Contains(w, "plugin.p is down and being restarted: plugin process signal: killed") {
		t.Fatalf("health ok=%v, warnings %q", ok, w)
	}
	tr.report(StateLoaded, nil)
	if n := len(r.Ordered(sdk.CapModelSource)); n != 1 || len(r.Warnings()) != 0 {
		t.Fatalf("after recovery: ordered %d, warnings %v", n, r.Warnings())
	}
}
