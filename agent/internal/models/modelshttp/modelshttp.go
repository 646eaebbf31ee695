// Package modelshttp serves the shared model store over the REST API: /api/models (list, get,
// delete, download, dedupe, check-updates), /api/storage/usage and /api/downloads. Package
// models knows nothing of HTTP.
package modelshttp

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/models"
)

// handlers translate the model store's routes to calls of its parts.
type handlers struct{ s *models.Service }

// Routes registers the model store's endpoints, served by s. httprouter cannot mix the static
// /api/models/check-updates with the /api/models/*model_path catch-all, so GET on the catch-all
// dispatches "check-updates" itself.
func Routes(r *httprouter.Router, s *models.Service) {
	h := handlers{s: s}
	r.GET("/api/models", h.handleList)
	r.GET("/api/models/*model_path", h.handleGetModel)
	r.DELETE("/api/models/*model_path", h.handleDelete)
	r.POST("/api/models/*action", h.handlePostModels)
	r.GET("/api/storage/usage", h.handleUsage)
	r.GET("/api/downloads", h.handleDownloads)
	// /api/downloads/settings and /history share the :id level (httprouter cannot mix them).
	r.GET("/api/downloads/:id", h.handleDownload)
	r.POST("/api/downloads/:id", h.handleDownloadSettingsPost)
	r.POST("/api/downloads/:id/:action", h.handleDownloadAction)
}

func (h handlers) handleList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	l, err := h.s.Catalog.List()
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, l)
}

func (h handlers) handleGetModel(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	p := strings.TrimPrefix(ps.ByName("model_path"), "/")
	if p == "check-updates" {
		res, err := h.s.Updates.CheckUpdates(r.Context())
		if err != nil {
			api.WriteError(w, r, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, res)
		return
	}
	m, err := h.s.Catalog.Get(p)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, m)
}

func (h handlers) handleDelete(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	raw := strings.TrimPrefix(ps.ByName("model_path"), "/")
	force := r.URL.Query().Get("force") == "true" || r.URL.Query().Get("force") == "1"
	rel, err := h.s.Storage.Delete(raw, force)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "message": fmt.Sprintf("Model %s deleted successfully", rel)})
}

func (h handlers) handlePostModels(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	switch strings.TrimPrefix(ps.ByName("action"), "/") {
	case "download":
		h.handleStartDownload(w, r)
	case "dedupe":
		var body struct {
			DryRun bool `json:"dry_run"`
		}
		if r.ContentLength != 0 {
			if err := api.DecodeJSON(w, r, &body, 0); err != nil {
				api.WriteError(w, r, err)
				return
			}
		}
		rep, err := h.s.Storage.Dedupe(r.Context(), body.DryRun)
		if err != nil {
			api.WriteError(w, r, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, rep)
	default:
		api.WriteError(w, r, apierr.Newf(apierr.NotFound, "NotFoundError", "no such endpoint POST %s", r.URL.Path).
			Suggest("POST /api/models/download starts a download; POST /api/models/dedupe links duplicates"))
	}
}

func (h handlers) handleStartDownload(w http.ResponseWriter, r *http.Request) {
	var req models.DownloadRequest
	if err := api.DecodeJSON(w, r, &req, 64<<10); err != nil {
		api.WriteError(w, r, err)
		return
	}
	sub, err := h.s.Downloads.Submit(r.Context(), req)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	status := http.StatusAccepted
	if sub.OperationID == "" {
		status = http.StatusOK
	}
	api.WriteJSON(w, status, sub)
}

func (h handlers) handleUsage(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	u, err := h.s.Storage.Usage()
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, u)
}

func (h handlers) handleDownloads(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if err := h.s.DownloadOps.Available(); err != nil {
		api.WriteError(w, r, err)
		return
	}
	out, err := h.s.DownloadOps.List()
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "downloads": out, "total_count": len(out)})
}

// downloadSettings shows the effective download settings in the original launcher's shape.
func (h handlers) downloadSettings() map[string]any {
	st := h.s.Downloads.Settings()
	d := st.Download
	return map[string]any{
		"max_concurrent_downloads": st.MaxConcurrent, "max_retries": st.MaxAttempts, "chunk_size": 1 << 20,
		"timeout": d.StallTimeout.Seconds(), "bandwidth_limit": 0, "auto_resume": true, "verify_checksums": true,
		"connections_per_file": d.MaxConnections, "checkpoint_bytes": d.CheckpointBytes,
	}
}

func (h handlers) handleDownloadSettingsPost(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	if ps.ByName("id") != "settings" {
		api.WriteError(w, r, apierr.Newf(apierr.NotFound, "NotFoundError", "no such endpoint POST %s", r.URL.Path).
			Suggest("POST /api/downloads/{id}/pause, /resume or /cancel"))
		return
	}
	api.WriteError(w, r, apierr.New(apierr.Invalid, "ReadOnlySettingError", "download settings come from launcher.toml",
		"Edit the [downloads] section of launcher.toml and restart the agent"))
}

func (h handlers) handleDownload(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	switch id := ps.ByName("id"); id {
	case "settings":
		api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "settings": h.downloadSettings()})
	case "history":
		out, err := h.s.DownloadOps.History()
		if err != nil {
			api.WriteError(w, r, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "history": out, "total_count": len(out)})
	default:
		v, err := h.s.DownloadOps.Get(id)
		if err != nil {
			api.WriteError(w, r, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, v)
	}
}

// settleTimeout bounds how long pause and cancel wait for the download to stop, so the
// answer shows the new state.
const settleTimeout = 2 * time.Second

func (h handlers) handleDownloadAction(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	d, id := h.s.DownloadOps, ps.ByName("id")
	if _, err := d.Get(id); err != nil {
		api.WriteError(w, r, err)
		return
	}
	var act func(context.Context, string) (models.DownloadView, error)
	switch action := ps.ByName("action"); action {
	case "pause":
		act = d.Pause
	case "resume":
		act = d.Resume
	case "cancel":
		act = d.Cancel
	default:
		api.WriteError(w, r, apierr.Newf(apierr.NotFound, "NotFoundError", "unknown download action %q", action).
			Suggest("Use pause, resume or cancel"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), settleTimeout)
	defer cancel()
	v, err := act(ctx, id)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, v)
}
