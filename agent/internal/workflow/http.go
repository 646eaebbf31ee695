package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
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

// readWorkflow reads {"workflow_json": ...} and decodes the workflow; the body may be a little
// larger than the workflow. The body is parsed once, and the workflow is the parsed value of
// its field (no second parse, no re-encoding). Anything unusual (malformed JSON, a field
// spelled in another case, too deep, too large) takes readWorkflowSlow, whose errors are the
// precise ones.
func (s *Service) readWorkflow(w http.ResponseWriter, r *http.Request) (*Document, error) {
	limit := int64(s.lim.MaxBytes) + 4096
	if r.Body == nil {
		return s.readWorkflowSlow(w, r, limit)
	}
	body, err := readBody(io.LimitReader(r.Body, limit+1), r.ContentLength)
	if err != nil || int64(len(body)) > limit {
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
		return s.readWorkflowSlow(w, r, limit)
	}
	spans := map[string][2]int{}
	v, ok := parseJSONFast(body, s.lim.MaxDepth+1, spans)
	obj, isObj := v.(map[string]any)
	span, has := spans["workflow_json"]
	if ok && isObj && has && !hasFoldedTwin(spans, "workflow_json") {
		raw := body[span[0]:span[1]]
		if string(raw) != "null" && len(raw) <= s.lim.MaxBytes {
			return decodeValue(obj["workflow_json"], raw, 0)
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return s.readWorkflowSlow(w, r, limit)
}

// readBody reads r to its end into one buffer sized by the request's Content-Length (when
// given), so a large workflow is not copied through a series of doubling buffers.
func readBody(r io.Reader, sizeHint int64) ([]byte, error) {
	if sizeHint < 0 || sizeHint > 1<<30 {
		sizeHint = 0
	}
	buf := make([]byte, 0, sizeHint+1) // +1: the read that sees EOF needs no growth
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// hasFoldedTwin reports whether another key matches name case-insensitively, as encoding/json
// matches struct fields: then the last one would win there, so the slow path decides.
func hasFoldedTwin(spans map[string][2]int, name string) bool {
	for k := range spans {
		if k != name && strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// readWorkflowSlow is readWorkflow through encoding/json.
func (s *Service) readWorkflowSlow(w http.ResponseWriter, r *http.Request, limit int64) (*Document, error) {
	var body workflowBody
	if err := api.DecodeJSON(w, r, &body, limit); err != nil {
		return nil, err
	}
	if len(body.WorkflowJSON) == 0 || string(body.WorkflowJSON) == "null" {
		return nil, apierr.New(apierr.Invalid, "ValidationError", "workflow_json is required",
			`Send {"workflow_json": <the workflow file's JSON>}`)
	}
	return Decode(body.WorkflowJSON, s.lim)
}

// PreviewResponse is the body of POST /api/workflow/preview.
type PreviewResponse struct {
	Success  bool      `json:"success"`
	Metadata *Metadata `json:"metadata"`
}

func (s *Service) handlePreview(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	doc, err := s.readWorkflow(w, r)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	a, err := s.AnalyzeDocument(r.Context(), doc)
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
	doc, err := s.readWorkflow(w, r)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	v, err := s.ValidateDocument(r.Context(), doc)
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
