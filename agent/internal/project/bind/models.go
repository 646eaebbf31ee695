package bind

import (
	"context"
	"encoding/json"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/models"
	"github.com/comfylauncher/launcher/agent/internal/project"
	"github.com/comfylauncher/launcher/agent/internal/workflow"
)

// Models adapts the model store: install downloads go through it, and ComfyUI is pointed at
// it with its extra_model_paths.yaml.
type Models struct {
	Service *models.Service
}

var _ project.Models = Models{}

// ExtraModelPathsYAML is the store's extra_model_paths.yaml.
func (m Models) ExtraModelPathsYAML() []byte { return m.Service.ExtraModelPathsYAML() }

// EnsureFile downloads one file into the store unless it is there.
func (m Models) EnsureFile(ctx context.Context, req project.FileRequest) error {
	return m.Service.EnsureFile(ctx, models.DownloadRequest{
		URL: req.URL, Folder: req.Folder, Filename: req.Filename, SHA256: req.SHA256, ProjectID: req.ProjectID,
	})
}

// CheckDest refuses a project file that the store would write outside itself.
func (m Models) CheckDest(folder, name string) error { return m.Service.CheckDest(folder, name) }

// Importer adapts the workflow service: imports become launcher JSON, and VRAM estimates
// feed GPU placement.
type Importer struct {
	Service *workflow.Service
}

var _ project.Importer = Importer{}

// PrepareImport validates an import and returns its launcher JSON; missing models are an
// *apierr.Error with MISSING_MODELS and missing_models, passed through to the client.
func (i Importer) PrepareImport(ctx context.Context, req project.ImportRequest) (json.RawMessage, error) {
	wreq := workflow.ImportRequest{ImportJSON: req.ImportJSON, SkippingModelValidation: req.SkippingModelValidation}
	if len(req.ResolvedMissingModels) > 0 && string(req.ResolvedMissingModels) != "null" {
		if err := json.Unmarshal(req.ResolvedMissingModels, &wreq.ResolvedMissingModels); err != nil {
			return nil, apierr.Wrap(apierr.Invalid, "ValidationError", err, "resolved_missing_models is malformed: "+err.Error(),
				`Send a list of {"filename", "node_type", "dest_relative_path", "source": {"type", "file_id", "url"}}`)
		}
	}
	lj, err := i.Service.PrepareImport(ctx, wreq)
	if err != nil {
		return nil, err
	}
	// Not json.Marshal: it would compact the (already compact) workflow once more.
	return lj.MarshalJSON()
}

// EstimateVRAM is the workflow's VRAM estimate in MB, 0 when it cannot be analysed.
func (i Importer) EstimateVRAM(workflowJSON json.RawMessage) int64 {
	a, err := i.Service.Analyze(context.Background(), workflowJSON)
	if err != nil || a.Metadata == nil {
		return 0
	}
	return a.Metadata.EstimatedVRAM
}
