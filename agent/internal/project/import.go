package project

import (
	"context"
	"encoding/json"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// Import creates a project from an import (POST /api/import_project): a launcher JSON as it
// is, or a workflow that the importer converts into one (refusing missing models unless the
// request skips their validation). req carries the name and run settings; its template and
// launcher JSON are replaced by the import.
func (m *Manager) Import(ctx context.Context, req CreateRequest, imp ImportRequest) (Project, error) {
	if len(imp.ImportJSON) == 0 || string(imp.ImportJSON) == "null" {
		return Project{}, apierr.New(apierr.Invalid, "ValidationError", "import_json is required",
			"Send the workflow or launcher JSON as the import_json object")
	}
	var head struct {
		Format string `json:"format"`
	}
	if err := json.Unmarshal(imp.ImportJSON, &head); err != nil {
		return Project{}, apierr.New(apierr.Invalid, "ValidationError", "import_json must be a JSON object",
			"Send the parsed workflow file, not a string")
	}
	launcher := imp.ImportJSON
	switch {
	case m.deps.Importer != nil:
		// The workflow service validates launcher JSON too and converts workflows.
		var err error
		if launcher, err = m.deps.Importer.PrepareImport(ctx, imp); err != nil {
			return Project{}, err
		}
	case head.Format != "comfyui_launcher":
		return Project{}, apierr.New(apierr.Unavailable, "ServiceUnavailableError", "workflow import is not available on this agent",
			"Import a launcher JSON (format \"comfyui_launcher\") instead")
	}
	req.LauncherJSON = launcher
	req.Template = ""
	return m.Create(ctx, req)
}
