package project

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// wrapImporter converts a workflow into a launcher JSON that carries it, recording the request.
type wrapImporter struct{ got []ImportRequest }

func (w *wrapImporter) PrepareImport(_ context.Context, req ImportRequest) (json.RawMessage, error) {
	w.got = append(w.got, req)
	return json.RawMessage(`{"format":"comfyui_launcher","version":"1.0","workflow_json":` + string(req.ImportJSON) + `,"files":[]}`), nil
}
func (w *wrapImporter) EstimateVRAM(json.RawMessage) int64 { return 0 }

func TestTemplates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"mine/launcher.json":    `{"workflow_json":{"nodes":[]},"snapshot_json":{"comfyui":null,"git_custom_nodes":{}},"files":[]}`,
		"flow/workflow.json":    `{"1":{"class_type":"SaveImage","inputs":{}}}`,
		"flow/template.json":    `{"name":"My flow","description":"d"}`,
		"notemplate/readme":     "no launcher.json or workflow.json here",
		"img2img/launcher.json": `{"workflow_json":{"overridden":true}}`,
	})
	imp := &wrapImporter{}
	m := New(Deps{Importer: imp}, Options{DataDir: t.TempDir(), TemplatesDir: dir})

	byID := map[string]Template{}
	for _, tpl := range m.Templates() {
		byID[tpl.ID] = tpl
	}
	for _, id := range []string{"empty", "animate_diff", "svd", "upscale", "img2img", "vid2vid", "img2vid", "mine", "flow"} {
		if _, ok := byID[id]; !ok {
			t.Errorf("template %q is not listed: %v", id, byID)
		}
	}
	if _, ok := byID["notemplate"]; ok {
		t.Error("a folder without launcher.json or workflow.json is listed")
	}
	if tpl := byID["flow"]; tpl.Name != "My flow" || tpl.Kind != "workflow" || tpl.Source != "data" {
		t.Errorf("flow = %+v", tpl)
	}
	if tpl := byID["img2img"]; tpl.Source != "data" || tpl.Kind != "launcher" {
		t.Errorf("the data directory's img2img should win over the shipped one: %+v", tpl)
	}

	ctx := context.Background()
	raw, err := m.templates.load(ctx, "mine")
	if err != nil || !strings.Contains(string(raw), `"nodes":[]`) {
		t.Fatalf("mine: %s, %v", raw, err)
	}
	raw, err = m.templates.load(ctx, "flow")
	if err != nil || !strings.Contains(string(raw), "SaveImage") {
		t.Fatalf("flow: %s, %v", raw, err)
	}
	if len(imp.got) != 1 || !imp.got[0].SkippingModelValidation {
		t.Fatalf("a workflow.json template must be imported skipping model validation: %+v", imp.got)
	}
	// Every shipped template converts and is a launcher JSON the installer accepts.
	for _, id := range []string{"animate_diff", "svd", "upscale", "vid2vid", "img2vid"} {
		raw, err := m.templates.load(ctx, id)
		if err != nil {
			t.Fatalf("shipped %s: %v", id, err)
		}
		if _, err := parseLauncherJSON(raw); err != nil {
			t.Fatalf("shipped %s: %v", id, err)
		}
	}

	for _, bad := range []string{"nope", "../etc", "notemplate"} {
		_, err := m.templates.load(ctx, bad)
		var ae *apierr.Error
		if !errors.As(err, &ae) || ae.Type != "TemplateNotFoundError" || ae.Kind != apierr.NotFound {
			t.Fatalf("%s: %v, want 404 TemplateNotFoundError", bad, err)
		}
		if s := strings.Join(ae.Suggestions, " "); !strings.Contains(s, "img2img") || !strings.Contains(s, dir) {
			t.Fatalf("%s: suggestions %q should list the templates and the folder", bad, s)
		}
	}
}

func TestLauncherInputFiles(t *testing.T) {
	t.Parallel()
	png := []byte("\x89PNG example image")
	sum := sha256.Sum256(png)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/example.png" {
			http.NotFound(w, r)
			return
		}
		w.Write(png)
	}))
	defer srv.Close()

	lj := `{"workflow_json":{},"files":[[{"download_url":"` + srv.URL + `/example.png","dest_relative_path":"input/examples/example.png","sha256_checksum":"` + hex.EncodeToString(sum[:]) + `"}],` +
		`[{"download_url":"https://x/m","dest_relative_path":"models/checkpoints/m.safetensors"}]]}`
	if _, err := parseLauncherJSON(json.RawMessage(lj)); err != nil {
		t.Fatalf("input/ and models/ destinations must be accepted: %v", err)
	}
	for _, dest := range []string{"input/../../escape.png", "/etc/passwd", "input/", "custom_nodes/x.py"} {
		bad := `{"workflow_json":{},"files":[[{"download_url":"https://x/y","dest_relative_path":"` + dest + `"}]]}`
		if _, err := parseLauncherJSON(json.RawMessage(bad)); err == nil {
			t.Errorf("destination %q was accepted", dest)
		}
	}

	f := files{layout: layout{dataDir: t.TempDir()}}
	comfy := f.layout.comfyUI("p")
	os.MkdirAll(comfy, 0o755)
	alts := []fileAlt{
		{DownloadURL: srv.URL + "/missing.png", DestRelativePath: "input/examples/example.png"},
		{DownloadURL: srv.URL + "/example.png", DestRelativePath: "input/examples/example.png", SHA256: hex.EncodeToString(sum[:])},
	}
	if err := f.ensureInput(context.Background(), "p", alts); err != nil {
		t.Fatalf("ensureInput: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(comfy, "input", "examples", "example.png")); string(got) != string(png) {
		t.Fatalf("input file = %q", got)
	}
	wrong := []fileAlt{{DownloadURL: srv.URL + "/example.png", DestRelativePath: "input/other.png", SHA256: strings.Repeat("0", 64)}}
	if err := f.ensureInput(context.Background(), "p", wrong); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("checksum mismatch: %v", err)
	}
	if _, err := os.Stat(filepath.Join(comfy, "input", "other.png")); err == nil {
		t.Fatal("a file with the wrong checksum was kept")
	}

	// A symlinked input/ folder that points outside the checkout is refused.
	outside := t.TempDir()
	f2 := files{layout: layout{dataDir: t.TempDir()}}
	comfy2 := f2.layout.comfyUI("p")
	os.MkdirAll(comfy2, 0o755)
	if err := os.Symlink(outside, filepath.Join(comfy2, "input")); err != nil {
		t.Fatal(err)
	}
	if err := f2.ensureInput(context.Background(), "p", alts[1:]); err == nil {
		t.Fatal("ensureInput wrote through a symlink leaving the ComfyUI folder")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("files appeared outside the checkout: %v", entries)
	}
}
