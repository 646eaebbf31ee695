// Package workflowhttp serves workflow analysis and the ComfyUI-Manager data over the REST API:
// POST /api/workflow/preview and /validate, and the /api/manager-data routes. Package workflow
// knows nothing of HTTP.
package workflowhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/managerdata"
	"github.com/comfylauncher/launcher/agent/internal/workflow"
)

// handlers translate the workflow routes to Service calls.
type handlers struct {
	s *workflow.Service
	// importRoot is the only folder POST /api/manager-data/import reads directories from.
	importRoot string
}

// Routes registers the workflow routes and the Manager data routes, served by s and its
// Manager data.
//
// importRoot ([manager] import_root) is the only folder the Manager data import reads
// directories from; "" refuses directory sources (http(s) URLs still import).
func Routes(r *httprouter.Router, s *workflow.Service, importRoot string) {
	h := handlers{s: s, importRoot: importRoot}
	r.POST("/api/workflow/preview", h.handlePreview)
	r.POST("/api/workflow/validate", h.handleValidate)
	// The Manager data routes: /api/manager-data is their home; the /api/workflow/ spellings
	// stay for clients written against them.
	r.GET("/api/manager-data", h.handleManagerStatus)
	r.POST("/api/manager-data/refresh", h.handleManagerRefresh)
	r.POST("/api/manager-data/import", h.handleManagerImport)
	r.GET("/api/workflow/manager-data", h.handleManagerStatus)
	r.POST("/api/workflow/manager-data/refresh", h.handleManagerRefresh)
}

// workflowField is the request field that carries the workflow.
const workflowField = "workflow_json"

type workflowBody struct {
	WorkflowJSON json.RawMessage `json:"workflow_json"`
}

// readWorkflow reads {"workflow_json": ...} and decodes the workflow; the body may be a little
// larger than the workflow. The body is parsed once (workflow.DecodeField). Anything unusual
// (malformed JSON, a field spelled in another case, too deep, too large) takes
// readWorkflowSlow, whose errors are the precise ones.
func (h handlers) readWorkflow(w http.ResponseWriter, r *http.Request) (*workflow.Document, error) {
	lim := h.s.Limits()
	limit := int64(lim.MaxBytes) + 4096
	if r.Body == nil {
		return readWorkflowSlow(w, r, limit, lim)
	}
	body, err := readBody(io.LimitReader(r.Body, limit+1), r.ContentLength)
	if err != nil || int64(len(body)) > limit {
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
		return readWorkflowSlow(w, r, limit, lim)
	}
	if doc, ok, err := workflow.DecodeField(body, workflowField, lim); ok {
		return doc, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return readWorkflowSlow(w, r, limit, lim)
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

// readWorkflowSlow is readWorkflow through encoding/json.
func readWorkflowSlow(w http.ResponseWriter, r *http.Request, limit int64, lim workflow.Limits) (*workflow.Document, error) {
	var body workflowBody
	if err := api.DecodeJSON(w, r, &body, limit); err != nil {
		return nil, err
	}
	if len(body.WorkflowJSON) == 0 || string(body.WorkflowJSON) == "null" {
		return nil, apierr.New(apierr.Invalid, "ValidationError", workflowField+" is required",
			`Send {"workflow_json": <the workflow file's JSON>}`)
	}
	return workflow.Decode(body.WorkflowJSON, lim)
}

// PreviewResponse is the body of POST /api/workflow/preview.
type PreviewResponse struct {
	Success  bool               `json:"success"`
	Metadata *workflow.Metadata `json:"metadata"`
}

func (h handlers) handlePreview(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	doc, err := h.readWorkflow(w, r)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	a, err := h.s.AnalyzeDocument(r.Context(), doc)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, PreviewResponse{Success: true, Metadata: a.Metadata})
}

// ValidateResponse is the body of POST /api/workflow/validate.
type ValidateResponse struct {
	Success       bool                    `json:"success"`
	LauncherJSON  *workflow.LauncherJSON  `json:"launcher_json"`
	MissingModels []workflow.MissingModel `json:"missing_models"`
	Metadata      *workflow.Metadata      `json:"metadata"`
	Warnings      []string                `json:"warnings"`
}

func (h handlers) handleValidate(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	doc, err := h.readWorkflow(w, r)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	v, err := h.s.ValidateDocument(r.Context(), doc)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, ValidateResponse{
		Success: len(v.Missing) == 0, LauncherJSON: v.Launcher, MissingModels: v.Missing,
		Metadata: v.Analysis.Metadata, Warnings: v.Analysis.Metadata.Warnings,
	})
}

func (h handlers) handleManagerStatus(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	st := h.s.Manager().Status()
	api.WriteJSON(w, http.StatusOK, managerStatusBody(st))
}

// managerStatusBody is the Status with "warnings" never null.
func managerStatusBody(st managerdata.Status) managerdata.Status {
	st.Warnings = nonNilStrings(st.Warnings)
	return st
}

func (h handlers) handleManagerRefresh(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if err := h.s.Manager().Refresh(r.Context()); err != nil {
		api.WriteError(w, r, apierr.Wrap(apierr.Unavailable, "ManagerDataUnavailable", err, "",
			"Check the agent can reach the URLs of manager.extension_node_map_url, manager.github_stats_url, manager.model_list_url and manager.custom_node_list_url in launcher.toml",
			"On a node without internet, load a copy with POST /api/manager-data/import or `launcher manager-data import DIR|URL`"))
		return
	}
	st := managerStatusBody(h.s.Manager().Status())
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

func (h handlers) handleManagerImport(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
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
	var res managerdata.ImportResult
	var err error
	if src := strings.TrimSpace(body.Source); managerdata.IsURL(src) {
		res, err = h.s.Manager().Import(r.Context(), src, at)
	} else {
		res, err = h.importDir(src, at)
	}
	switch {
	case errors.Is(err, managerdata.ErrBadSource):
		api.WriteError(w, r, apierr.Wrap(apierr.Invalid, "ManagerDataImportError", err, "",
			fmt.Sprintf("Give a folder inside %s ([manager] import_root; a path relative to it, or absolute), or an http(s) URL, that holds extension-node-map.json, github-stats.json, model-list.json and custom-node-list.json as ComfyUI-Manager publishes them", h.importRoot),
			"On the node itself, `launcher manager-data import DIR` reads any folder"))
		return
	case err != nil:
		api.WriteError(w, r, apierr.Wrap(apierr.Internal, "ManagerDataImportError", err, "",
			"Check that the agent can write its Manager cache (paths.data_dir/manager)"))
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "import": res, "status": managerStatusBody(h.s.Manager().Status())})
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// importDir imports the folder src names inside h.importRoot: a path relative to it, or an
// absolute one that lies in it. The folder is opened through an os.Root, so neither ".." nor a
// symlink in it reads anything outside the root.
func (h handlers) importDir(src string, at time.Time) (managerdata.ImportResult, error) {
	if h.importRoot == "" {
		return managerdata.ImportResult{}, fmt.Errorf("%w: this agent imports no directories over the API ([manager] import_root is not set)", managerdata.ErrBadSource)
	}
	rel := src
	if filepath.IsAbs(src) {
		var err error
		if rel, err = filepath.Rel(h.importRoot, filepath.Clean(src)); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return managerdata.ImportResult{}, fmt.Errorf("%w: %s is outside the import root %s", managerdata.ErrBadSource, src, h.importRoot)
		}
	}
	root, err := os.OpenRoot(h.importRoot)
	if err != nil {
		return managerdata.ImportResult{}, fmt.Errorf("%w: the import root %s cannot be opened (create it and copy the files into it): %v", managerdata.ErrBadSource, h.importRoot, err)
	}
	defer root.Close()
	dir, err := root.OpenRoot(rel)
	if err != nil {
		return managerdata.ImportResult{}, fmt.Errorf("%w: %s is not a directory inside the import root %s: %v", managerdata.ErrBadSource, src, h.importRoot, err)
	}
	defer dir.Close()
	return h.s.Manager().ImportFS(dir.FS(), filepath.Join(h.importRoot, rel), at)
}
