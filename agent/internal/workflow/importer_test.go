package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/workflow/workflowtest"
)

func TestPrepareImport(t *testing.T) {
	read := func(f string) json.RawMessage {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ui := read("testdata/workflows/ui_subgraph_nested.json")
	cases := []struct {
		name    string
		req     ImportRequest
		errKind apierr.Kind
		errMsg  string
		check   func(t *testing.T, lj *LauncherJSON, err error)
	}{
		{name: "missing models", req: ImportRequest{ImportJSON: ui}, errKind: apierr.Conflict, errMsg: "MISSING_MODELS",
			check: func(t *testing.T, _ *LauncherJSON, err error) {
				var ae *apierr.Error
				errors.As(err, &ae)
				miss, _ := ae.Fields["missing_models"].([]MissingModel)
				if len(miss) != 2 || ae.Fields["success"] != false {
					t.Fatalf("missing_models = %+v", ae.Fields)
				}
				for _, m := range miss {
					if len(m.Suggestions) == 0 || m.Suggestions[0].Source != "hf" || m.Suggestions[0].HFFileID == "" {
						t.Errorf("suggestions for %s = %+v", m.Filename, m.Suggestions)
					}
				}
			}},
		{name: "skip validation", req: ImportRequest{ImportJSON: ui, SkippingModelValidation: true}, check: func(t *testing.T, lj *LauncherJSON, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if lj.Format != LauncherFormat || len(lj.Files) != 0 {
				t.Errorf("got %+v", lj)
			}
			if _, ok := lj.SnapshotJSON.GitCustomNodes["https://github.com/original/ComfyUI_essentials"]; !ok {
				t.Errorf("snapshot lacks the essentials pack: %+v", lj.SnapshotJSON)
			}
		}},
		{name: "resolved", req: ImportRequest{ImportJSON: ui, ResolvedMissingModels: []ResolvedModel{
			{Filename: "outer_unet.safetensors", NodeType: "UNETLoader", DestRelativePath: "models/diffusion_models/outer_unet.safetensors",
				Source: ResolvedSource{Type: "hf", FileID: "https://huggingface.co/a/b/resolve/main/outer_unet.safetensors"}},
		}}, check: func(t *testing.T, lj *LauncherJSON, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if len(lj.Files) != 1 || lj.Files[0][0].DownloadURL != "https://huggingface.co/a/b/resolve/main/outer_unet.safetensors" ||
				lj.Files[0][0].DestRelativePath != "models/diffusion_models/outer_unet.safetensors" {
				t.Errorf("files = %+v", lj.Files)
			}
		}},
		{name: "resolved without suggestion", req: ImportRequest{ImportJSON: ui, ResolvedMissingModels: []ResolvedModel{
			{Filename: "a", NodeType: "UNETLoader", DestRelativePath: "models/unet/a"}}},
			errKind: apierr.Invalid, errMsg: "resolved_missing_models[0]: you didn't select one of the suggestions"},
		{name: "resolved empty fields", req: ImportRequest{ImportJSON: ui, ResolvedMissingModels: []ResolvedModel{{Filename: "a"}}},
			errKind: apierr.Invalid, errMsg: "empty filename, node type, or destination path"},
		{name: "resolved escaping path", req: ImportRequest{ImportJSON: ui, ResolvedMissingModels: []ResolvedModel{
			{Filename: "a", NodeType: "X", DestRelativePath: "models/../../x", Source: ResolvedSource{URL: "https://x/a"}}}},
			errKind: apierr.Invalid, errMsg: "must be models/<folder>/<file>"},
		{name: "resolved plain http", req: ImportRequest{ImportJSON: ui, ResolvedMissingModels: []ResolvedModel{
			{Filename: "a", NodeType: "X", DestRelativePath: "models/loras/a", Source: ResolvedSource{URL: "http://x/a"}}}},
			errKind: apierr.Invalid, errMsg: "invalid url"},
		{name: "launcher json as is", req: ImportRequest{ImportJSON: read("testdata/workflows/wrapped_launcher.json")}, check: func(t *testing.T, lj *LauncherJSON, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if len(lj.Files) != 2 || len(lj.Files[0]) != 2 || lj.SnapshotJSON.ComfyUI == nil || len(lj.PipRequirements) != 2 {
				t.Errorf("launcher JSON changed: %+v", lj)
			}
			out, _ := json.Marshal(lj)
			if !strings.Contains(string(out), `"os":{"name":"posix","platform":"Linux"}`) {
				t.Errorf("extra field lost: %s", out[:200])
			}
		}},
		{name: "empty import_json", req: ImportRequest{}, errKind: apierr.Invalid, errMsg: "import_json is required"},
		{name: "bad import_json", req: ImportRequest{ImportJSON: json.RawMessage(`{"nodes": 3}`)}, errKind: apierr.Invalid, errMsg: `import_json: "nodes" must be an array`},
	}
	s := testService(t, &workflowtest.Catalog{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lj, err := s.PrepareImport(context.Background(), c.req)
			if c.errMsg != "" {
				if err == nil || apierr.KindOf(err) != c.errKind || !strings.Contains(err.Error(), c.errMsg) {
					t.Fatalf("got %v (kind %v), want kind %v containing %q", err, apierr.KindOf(err), c.errKind, c.errMsg)
				}
			}
			if c.check != nil {
				c.check(t, lj, err)
			}
		})
	}
}

// TestLauncherRoundTrip: a launcher JSON read and written back keeps every field.
func TestLauncherRoundTrip(t *testing.T) {
	raw, err := os.ReadFile("testdata/workflows/wrapped_launcher.json")
	if err != nil {
		t.Fatal(err)
	}
	var lj LauncherJSON
	if err := json.Unmarshal(raw, &lj); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(lj)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	json.Unmarshal(raw, &a)
	json.Unmarshal(out, &b)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("round trip changed the file:\n%s\n%s", ja, jb)
	}
}
