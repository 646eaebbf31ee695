package extensionhttp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/agent/internal/extension/extensionhttp"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

type strategy struct{}

func (strategy) Decide(context.Context, sdk.StrategyInput) (sdk.StrategyDecision, error) {
	return sdk.StrategyDecision{NotMine: true}, nil
}

func get(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
	return resp.StatusCode, m
}

// TestRoutes: the list names each extension and the order each capability asks them in; an
// unknown id is a 404 with the API's error envelope.
func TestRoutes(t *testing.T) {
	t.Parallel()
	reg := extension.New(extension.Options{})
	id := extension.ID(extension.TransportBuiltin, "probe")
	if _, err := reg.Register(context.Background(), extension.Info{ID: id, Version: "1", Transport: extension.TransportBuiltin,
		Capabilities: []sdk.Capability{sdk.CapRecoveryStrategy}}, strategy{}); err != nil {
		t.Fatal(err)
	}
	rt := httprouter.New()
	extensionhttp.Routes(rt, reg)
	srv := httptest.NewServer(rt)
	defer srv.Close()

	status, list := get(t, srv.URL+"/api/extensions")
	if status != http.StatusOK {
		t.Fatalf("list: status %d: %v", status, list)
	}
	exts, _ := list["extensions"].([]any)
	if len(exts) != 1 || exts[0].(map[string]any)["id"] != id {
		t.Fatalf("extensions = %v", list["extensions"])
	}
	order, _ := list["order"].(map[string]any)
	if o, _ := order[string(sdk.CapRecoveryStrategy)].([]any); len(o) != 1 || o[0] != id {
		t.Fatalf("order = %v", list["order"])
	}
	if w, ok := list["warnings"].([]any); !ok || len(w) != 0 {
		t.Fatalf("warnings = %v, want []", list["warnings"])
	}

	if status, one := get(t, srv.URL+"/api/extensions/"+id); status != http.StatusOK || one["id"] != id {
		t.Fatalf("get: status %d: %v", status, one)
	}
	status, e := get(t, srv.URL+"/api/extensions/builtin.nope")
	if status != http.StatusNotFound || e["type"] != "NotFoundError" || e["error"] == nil {
		t.Fatalf("unknown id: status %d: %v", status, e)
	}
	if s, _ := e["suggestions"].([]any); len(s) == 0 {
		t.Fatalf("unknown id: no suggestions: %v", e)
	}
}
