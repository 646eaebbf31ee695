package workflow

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/managerdata"
)

// Routes registers the workflow routes.
func (s *Service) Routes(r *httprouter.Router) {
	r.POST("/api/workflow/preview", s.handlePreview)
	r.POST("/api/workflow/validate", s.handleValidate)
	// The Manager data routes: /api/manager-data is their home; the /api/workflow/ spellings
	// stay for clients written against them.
	r.GET("/api/manager-data", s.handleManagerStatus)
	r.POST("/api/manager-data/refresh", s.handleManagerRefresh)
	r.POST("/api/manager-data/import", s.handleManagerImport)
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
	st := s.manager.Status()
	api.WriteJSON(w, http.StatusOK, managerStatusBody(st))
}

// managerStatusBody is the Status with "warnings" never null.
func managerStatusBody(st managerdata.Status) managerdata.Status {
	st.Warnings = nonNilStrings(st.Warnings)
	return st
}

func (s *Service) handleManagerRefresh(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if err := s.manager.Refresh(r.Context()); err != nil {
		api.WriteError(w, r, apierr.Wrap(apierr.Unavailable, "ManagerDataUnavailable", err, "",
			"Check the agent can reach the URLs of manager.extension_node_map_url, manager.github_stats_url, manager.model_list_url and manager.custom_node_list_url in launcher.toml",
			"On a node without internet, load a copy with POST /api/manager-data/import or `launcher manager-data import DIR|URL`"))
		return
	}
	st := managerStatusBody(s.manager.Status())
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "files": st.Files, "status": st})
}

// managerImportBody is the body of POST /api/manager-data/import.
type managerImportBody struct {
	// Source is a directory on the agent's machine or an http(s) URL of a folder holding the
	// Manager files.
	Source string `json:"source"`
	// FetchedAt optionally dates the copy (RFC 3339); default: the source's own date.
	FetchedAt string `json:"fetched_at"`
}

func (s *Service) handleManagerImport(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	var body managerImportBody
	if err := api.DecodeJSON(w, r, &body, 0); err != nil {
		api.WriteError(w, r, err)
		return
	}
	if body.Source == "" {
		api.WriteError(w, r, apierr.New(apierr.Invalid, "ValidationError", "source is required",
			`Send {"source": "/path/on/the/agent/machine"} or {"source": "https://mirror/manager/"}: a folder holding extension-node-map.json, github-stats.json, model-list.json and custom-node-list.json`))
		return
	}
	var at time.Time
	if body.FetchedAt != "" {
		t, err := time.Parse(time.RFC3339, body.FetchedAt)
		if err != nil {
			api.WriteError(w, r, apierr.Newf(apierr.Invalid, "ValidationError", "fetched_at %q is not an RFC 3339 time", body.FetchedAt).
				Suggest(`Write it like "2026-11-30T12:00:00Z", or leave it out to use the files' own date`))
			return
		}
		at = t
	}
	res, err := s.manager.Import(r.Context(), body.Source, at)
	switch {
	case errors.Is(err, managerdata.ErrBadSource):
		api.WriteError(w, r, apierr.Wrap(apierr.Invalid, "ManagerDataImportError", err, "",
			"Give an absolute directory on the agent's machine, or an http(s) URL, that holds extension-node-map.json, github-stats.json, model-list.json and custom-node-list.json as ComfyUI-Manager publishes them"))
		return
	case err != nil:
		api.WriteError(w, r, apierr.Wrap(apierr.Internal, "ManagerDataImportError", err, "",
			"Check that the agent can write its Manager cache (paths.data_dir/manager)"))
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "import": res, "status": managerStatusBody(s.manager.Status())})
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
