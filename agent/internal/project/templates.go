package project

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// shippedTemplates are the templates of the original web UI's "new project" page (other than
// "empty"), written for this project. Each folder holds a workflow.json (imported like any
// workflow) and a template.json with its display name and description.
//
//go:embed templates
var shippedTemplates embed.FS

// Template describes one template for GET /api/templates.
type Template struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Source is "data" (the templates folder under the data directory) or "shipped".
	Source string `json:"source"`
	// Kind is "launcher" (launcher.json) or "workflow" (workflow.json only).
	Kind string `json:"kind"`
}

// templateSet reads the project templates: those in the data directory's templates folder
// first, then the shipped ones.
type templateSet struct {
	// dir holds <template_id>/launcher.json or workflow.json; empty means shipped ones only.
	dir string
	// importer converts a template's workflow.json; nil refuses workflow-only templates.
	importer Importer
}

// templateRoot is one place templates are read from; the data directory wins over shipped ones.
type templateRoot struct {
	source string
	fsys   fs.FS
	close  func()
}

func (ts templateSet) roots() []templateRoot {
	var roots []templateRoot
	if ts.dir != "" {
		// os.Root keeps a template's symlinks inside the templates folder.
		if r, err := os.OpenRoot(ts.dir); err == nil {
			roots = append(roots, templateRoot{source: "data", fsys: r.FS(), close: func() { r.Close() }})
		}
	}
	sub, _ := fs.Sub(shippedTemplates, "templates")
	return append(roots, templateRoot{source: "shipped", fsys: sub, close: func() {}})
}

// list returns the available templates, "empty" first.
func (ts templateSet) list() []Template {
	out := []Template{{ID: "empty", Name: "Empty", Description: "Plain ComfyUI, no workflow", Source: "shipped", Kind: "empty"}}
	seen := map[string]bool{"empty": true}
	for _, root := range ts.roots() {
		entries, _ := fs.ReadDir(root.fsys, ".")
		for _, e := range entries {
			id := e.Name()
			if !e.IsDir() || seen[id] || !validID.MatchString(id) {
				continue
			}
			t := Template{ID: id, Name: id, Source: root.source}
			switch {
			case fileIn(root.fsys, id+"/launcher.json"):
				t.Kind = "launcher"
			case fileIn(root.fsys, id+"/workflow.json"):
				t.Kind = "workflow"
			default:
				continue
			}
			if raw, err := fs.ReadFile(root.fsys, id+"/template.json"); err == nil {
				var meta struct{ Name, Description string }
				if json.Unmarshal(raw, &meta) == nil && meta.Name != "" {
					t.Name, t.Description = meta.Name, meta.Description
				}
			}
			seen[id] = true
			out = append(out, t)
		}
		root.close()
	}
	sort.SliceStable(out[1:], func(i, j int) bool { return out[1+i].ID < out[1+j].ID })
	return out
}

func fileIn(fsys fs.FS, name string) bool {
	st, err := fs.Stat(fsys, name)
	return err == nil && st.Mode().IsRegular()
}

// load returns the launcher JSON of a template: its launcher.json, or its workflow.json
// converted like an import that skips model validation (as the original launcher did).
func (ts templateSet) load(ctx context.Context, name string) (json.RawMessage, error) {
	if validID.MatchString(name) {
		for _, root := range ts.roots() {
			raw, kind, err := readTemplate(root.fsys, name)
			root.close()
			if err != nil {
				return nil, fmt.Errorf("read template %q: %w", name, err)
			}
			switch kind {
			case "launcher":
				return raw, nil
			case "workflow":
				return ts.workflow(ctx, name, raw)
			}
		}
	}
	ids := []string{}
	for _, t := range ts.list() {
		ids = append(ids, t.ID)
	}
	return nil, apierr.Newf(apierr.NotFound, "TemplateNotFoundError", "template %q does not exist", name).
		Suggest("Use one of: "+strings.Join(ids, ", "),
			"Or add <template_id>/launcher.json or <template_id>/workflow.json to "+ts.dir)
}

// readTemplate reads name/launcher.json, else name/workflow.json; kind is "" when neither exists.
func readTemplate(fsys fs.FS, name string) (raw []byte, kind string, err error) {
	for _, k := range []string{"launcher", "workflow"} {
		raw, err = fs.ReadFile(fsys, name+"/"+k+".json")
		if err == nil {
			return raw, k, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", err
		}
	}
	return nil, "", nil
}

func (ts templateSet) workflow(ctx context.Context, name string, workflow []byte) (json.RawMessage, error) {
	if ts.importer == nil {
		return nil, apierr.Newf(apierr.Unavailable, "ServiceUnavailableError", "template %q holds only a workflow.json and this agent cannot convert workflows", name).
			Suggest("Give the template a launcher.json")
	}
	lj, err := ts.importer.PrepareImport(ctx, ImportRequest{Name: name, ImportJSON: workflow, SkippingModelValidation: true})
	if err != nil {
		return nil, fmt.Errorf("template %q: %w", name, err)
	}
	return lj, nil
}
