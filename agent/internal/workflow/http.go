package workflow

import (
	"encoding/json"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// Routes registers the workflow routes.
func (s *Service) Routes(r *httprouter.Router) {
	r.POST("/api/workflow/preview", s.handlePreview)
	r.POST("/api/workflow/validate", s.handleValidate)
	r.GET("/api/workflow/manager-data", s.handleManagerStatus)
	r.POST("/api/workflow/manager-data/refresh", s.handleManagerRefresh)
}

type workflowBody struct {
	WorkflowJSON json.RawMessage `json:"workflow_json"`
}

// readWorkflow decodes {"workflow_json": ...}; the body may be a little larger than the workflow.
func (s *Service) readWorkflow(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	var body workflowBody
	if err := api.DecodeJSON(w, r, &body, int64(s.lim.MaxBytes)+4096); err != nil {
		return nil, err
	}
	if len(body.WorkflowJSON) == 0 || string(body.WorkflowJSON) == "null" {
		return nil, apierr.New(apierr.Invalid, "ValidationError", "workflow_json is required",
			`Send {"workflow_json": <the workflow file's JSON>}`)
	}
	return body.WorkflowJSON, nil
}

// PreviewResponse is the body of POST /api/workflow/preview.
type PreviewResponse struct {
	Success  bool      `json:"success"`
	Metadata *Metadata `json:"metadata"`
}

func (s *Service) handlePreview(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	raw, err := s.readWorkflow(w, r)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	a, err := s.Analyze(r.Context(), raw)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, PreviewResponse{Success: true, Metadata: a.Metadata})
}

// ValidateResponse is the body of POST /api/workflow/validate.
type ValidateResponse struct {
	Success       bool           `json:"success"`
	LauncherJSON  *LauncherJSON  `json:"launcher_json"`
	MissingModels []MissingModel `json:"missing_models"`
	Metadata      *Metadata      `json:"metadata"`
	Warnings      []string       `json:"warnings"`
}

func (s *Service) handleValidate(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	raw, err := s.readWorkflow(w, r)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	v, err := s.Validate(r.Context(), raw)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, ValidateResponse{
		Success: len(v.Missing) == 0, LauncherJSON: v.Launcher, MissingModels: v.Missing,
		Metadata: v.Analysis.Metadata, Warnings: v.Analysis.Metadata.Warnings,
	})
}

func (s *Service) handleManagerStatus(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	api.WriteJSON(w, http.StatusOK, map[string]any{"files": s.manager.Status(), "warnings": nonNilStrings(s.manager.Warnings())})
}

func (s *Service) handleManagerRefresh(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if err := s.manager.Refresh(r.Context()); err != nil {
		api.WriteError(w, r, apierr.Wrap(apierr.Unavailable, "ManagerDataUnavailable", err, "",
			"Check the agent can reach the Manager data URLs ([workflow] manager_urls), or seed the cache directory by hand"))
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "files": s.manager.Status()})
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
