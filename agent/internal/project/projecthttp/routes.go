// Package projecthttp serves the project routes of the API (spec/api.md: projects, import,
// logs, templates) over a project.Manager, which knows nothing of HTTP: this package decodes
// requests, validates query parameters and renders the original web UI's JSON shapes.
//
// Its tests are in project/routes_test.go (package project_test), which serve these
// routes over a real Manager built by package project's test harness.
package projecthttp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/gpu"
	"github.com/comfylauncher/launcher/agent/internal/project"
	"github.com/julienschmidt/httprouter"
)

// DefaultBodyLimit caps create and import bodies when Routes gets no limit: launcher JSON
// imports can be large.
const DefaultBodyLimit = 64 << 20

// handlers translate the project routes to Manager calls.
type handlers struct {
	m *project.Manager
	// bodyLimit caps request bodies.
	bodyLimit int64
}

// Routes registers the project routes of the original web UI plus restart, retry, logs and
// templates on r, served by m. bodyLimit caps create and import bodies (DefaultBodyLimit when
// it is not positive).
func Routes(r *httprouter.Router, m *project.Manager, bodyLimit int64) {
	if bodyLimit <= 0 {
		bodyLimit = DefaultBodyLimit
	}
	h := handlers{m: m, bodyLimit: bodyLimit}
	r.GET("/api/projects", h.handleList)
	r.GET("/api/projects/:id", h.handleGet)
	r.POST("/api/create_project", h.handleCreate)
	r.POST("/api/import_project", h.handleImport)
	r.POST("/api/projects/:id/start", h.handleAction(m.StartProject, true))
	r.POST("/api/projects/:id/stop", h.handleAction(m.StopProject, false))
	r.POST("/api/projects/:id/restart", h.handleAction(m.RestartProject, true))
	r.POST("/api/projects/:id/retry", h.handleAction(m.Retry, false))
	r.POST("/api/projects/:id/delete", h.handleDelete)
	r.GET("/api/logs/:project_id", h.handleLogs)
	r.GET("/api/templates", h.handleTemplates)
}

// projectJSON is the original UI's project object; state carries the state.json fields plus
// failure, progress and run settings.
func (h handlers) projectJSON(p project.Project) map[string]any {
	state := map[string]any{
		"id": p.ID, "name": p.Name, "state": p.State, "status_message": p.StatusMessage,
		"installed": p.Installed, "gpu": p.GPU, "restart": p.Restart,
		"launch_args": nonNilStrings(p.LaunchArgs), "port": nil, "pid": nil,
	}
	var port any
	if p.FixedPort != 0 {
		port = p.FixedPort
	}
	if p.Process != nil {
		state["port"] = p.Process.Port
		state["pid"] = p.Process.PID
		port = p.Process.Port
	}
	if p.Failure != nil {
		state["failure"] = p.Failure
		state["error"] = p.Failure.Error
		state["failed_step"] = p.Failure.Step
		state["suggestions"] = p.Failure.Suggestions
		state["retryable"] = p.Failure.Retryable
	}
	if snap, ok := h.m.ProgressSnapshot(p.ID); ok {
		state["progress"] = snap.Progress
	}
	if p.InstallOp != "" {
		state["install_op"] = p.InstallOp
	}
	if p.Desired != "" {
		state["desired_state"] = p.Desired
	}
	return map[string]any{
		"id":                  p.ID,
		"state":               state,
		"project_folder_name": p.ID,
		"project_folder_path": h.m.Dir(p.ID),
		"last_modified":       float64(p.UpdatedAt.UnixNano()) / 1e9,
		"port":                port,
		"url":                 "/comfy/" + p.ID + "/",
	}
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (h handlers) handleList(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	ps := h.m.List()
	out := make([]map[string]any, 0, len(ps))
	for _, p := range ps {
		out = append(out, h.projectJSON(p))
	}
	api.WriteJSON(w, http.StatusOK, out)
}

func (h handlers) handleGet(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	p, err := h.m.Get(ps.ByName("id"))
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, h.projectJSON(p))
}

// createBody is POST /api/create_project (original fields plus launcher_json and run
// settings).
type createBody struct {
	Name         string            `json:"name"`
	TemplateID   string            `json:"template_id"`
	Port         *int              `json:"port"`
	LauncherJSON json.RawMessage   `json:"launcher_json"`
	GPU          *gpu.Preference   `json:"gpu"`
	Restart      string            `json:"restart"`
	LaunchArgs   []string          `json:"launch_args"`
	Env          map[string]string `json:"env"`
}

func (b createBody) request() project.CreateRequest {
	req := project.CreateRequest{Name: b.Name, Template: b.TemplateID, LauncherJSON: b.LauncherJSON,
		Restart: b.Restart, LaunchArgs: b.LaunchArgs, Env: b.Env}
	if req.Template == "" {
		req.Template = "empty"
	}
	if b.Port != nil {
		req.Port = *b.Port
	}
	if b.GPU != nil {
		req.GPU = *b.GPU
	}
	if string(req.LauncherJSON) == "null" {
		req.LauncherJSON = nil
	}
	return req
}

func (h handlers) handleCreate(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	var b createBody
	if err := api.DecodeJSON(w, r, &b, h.bodyLimit); err != nil {
		api.WriteError(w, r, err)
		return
	}
	p, err := h.m.Create(r.Context(), b.request())
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "id": p.ID})
}

type importBody struct {
	createBody
	ImportJSON              json.RawMessage `json:"import_json"`
	ResolvedMissingModels   json.RawMessage `json:"resolved_missing_models"`
	SkippingModelValidation bool            `json:"skipping_model_validation"`
}

func (h handlers) handleImport(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	var b importBody
	if err := api.DecodeJSON(w, r, &b, h.bodyLimit); err != nil {
		api.WriteError(w, r, err)
		return
	}
	p, err := h.m.Import(r.Context(), b.request(), project.ImportRequest{
		Name: b.Name, ImportJSON: b.ImportJSON, ResolvedMissingModels: b.ResolvedMissingModels,
		SkippingModelValidation: b.SkippingModelValidation,
	})
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "id": p.ID})
}

func (h handlers) handleAction(fn func(ctx context.Context, id string) (project.Project, error), withPort bool) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		p, err := fn(r.Context(), ps.ByName("id"))
		if err != nil {
			api.WriteError(w, r, err)
			return
		}
		out := map[string]any{"success": true, "state": p.State}
		if withPort && p.Process != nil {
			out["port"] = p.Process.Port
		}
		api.WriteJSON(w, http.StatusOK, out)
	}
}

func (h handlers) handleDelete(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	if err := h.m.Delete(r.Context(), ps.ByName("id")); err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true})
}

func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, apierr.Newf(apierr.Invalid, "ValidationError", "%s=%q must be an integer in %d..%d", name, s, lo, hi).
			Suggest(fmt.Sprintf("Send %s between %d and %d", name, lo, hi))
	}
	return n, nil
}

func (h handlers) handleLogs(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	id := ps.ByName("project_id")
	if _, err := h.m.Get(id); err != nil {
		api.WriteError(w, r, err)
		return
	}
	page, err := intParam(r, "page", 1, 1, 1<<30)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	perPage, err := intParam(r, "per_page", 100, 1, 1000)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	level := r.URL.Query().Get("level")
	switch level {
	case "", project.LevelInfo, project.LevelWarning, project.LevelError:
	default:
		api.WriteError(w, r, apierr.Newf(apierr.Invalid, "ValidationError", "level %q is not info, warning or error", level).
			Suggest("Use level=info, level=warning or level=error, or omit it"))
		return
	}
	logs, pag, err := h.m.Logs(id, page, perPage, level)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"logs": logs, "pagination": pag})
}

func (h handlers) handleTemplates(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	api.WriteJSON(w, http.StatusOK, map[string]any{"templates": h.m.Templates()})
}
