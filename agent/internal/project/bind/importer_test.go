package bind

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/project"
	"github.com/comfylauncher/launcher/agent/internal/project/projecthttp"
	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
	"github.com/comfylauncher/launcher/agent/internal/store"
	"github.com/comfylauncher/launcher/agent/internal/workflow"
	"github.com/julienschmidt/httprouter"
)

const uiWorkflow = `{"last_node_id":1,"last_link_id":0,"version":0.4,"links":[],"nodes":[
 {"id":1,"type":"CheckpointLoaderSimple","pos":[0,0],"size":[300,100],"mode":0,"order":0,
  "inputs":[],"outputs":[{"name":"MODEL","type":"MODEL","links":null}],
  "widgets_values":["sd_xl_base_1.0.safetensors"]}]}`

// TestImportThroughWorkflowService: import_project delegates to the workflow service; missing
// models come back as MISSING_MODELS with the list, and skipping validation creates the project.
func TestImportThroughWorkflowService(t *testing.T) {
	t.Parallel()
	fx := projecttest.MakeFixtures(t)
	data := t.TempDir()
	db, err := store.Open(filepath.Join(data, "db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	m := project.New(project.Deps{Store: db, Importer: Importer{Service: workflow.NewService(workflow.Options{})}},
		project.Options{DataDir: data, ModelsDir: filepath.Join(data, "models"), Repo: fx.ComfyUI, Python: projecttest.Python(t), ReconcileInterval: -1})
	if err := m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(t.Context()) })
	r := httprouter.New()
	projecthttp.Routes(r, m, 0)
	srv := httptest.NewServer(r)
	defer srv.Close()

	post := func(body string) (int, map[string]any) {
		resp, err := http.Post(srv.URL+"/api/import_project", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}
	for _, tc := range []struct {
		name, body string
		check      func(t *testing.T, code int, out map[string]any)
	}{
		{"missing models", `{"name":"imp","import_json":` + uiWorkflow + `,"resolved_missing_models":[],"skipping_model_validation":false}`,
			func(t *testing.T, code int, out map[string]any) {
				mm, _ := out["missing_models"].([]any)
				if code < 400 || !strings.Contains(out["error"].(string), "MISSING_MODELS") || len(mm) != 1 {
					t.Fatalf("%d %v", code, out)
				}
			}},
		{"malformed resolution", `{"name":"imp","import_json":` + uiWorkflow + `,"resolved_missing_models":"x"}`,
			func(t *testing.T, code int, out map[string]any) {
				if code != 400 || out["type"] != "ValidationError" {
					t.Fatalf("%d %v", code, out)
				}
			}},
		{"skip validation creates the project", `{"name":"imp","import_json":` + uiWorkflow + `,"skipping_model_validation":true}`,
			func(t *testing.T, code int, out map[string]any) {
				if code != 200 || out["success"] != true || out["id"] != "imp" {
					t.Fatalf("%d %v", code, out)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := post(tc.body)
			tc.check(t, code, out)
		})
	}
	p, err := m.Get("imp")
	if err != nil || !strings.Contains(string(p.LauncherJSON), "CheckpointLoaderSimple") {
		t.Fatalf("project %+v, %v", p, err)
	}
}
