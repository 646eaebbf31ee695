package models

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

// handlers translate the model store's routes to Service calls; the Service knows nothing of
// HTTP.
type handlers struct{ s *Service }

// Routes registers the model store's endpoints, served by s. httprouter cannot mix the static
// /api/models/check-updates with the /api/models/*model_path catch-all, so GET on the catch-all
// dispatches "check-updates" itself.
func Routes(r *httprouter.Router, s *Service) {
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
	l, err := h.s.List()
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, l)
}

func (h handlers) handleGetModel(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	p := strings.TrimPrefix(ps.ByName("model_path"), "/")
	if p == "check-updates" {
		res, err := h.s.CheckUpdates(r.Context())
		if err != nil {
			api.WriteError(w, r, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, res)
		return
	}
	rel, _, err := h.s.resolveStorePath(p)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	l, err := h.s.List()
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	for _, m := range l.Models {
		if m.Path == rel {
			api.WriteJSON(w, http.StatusOK, m)
			return
		}
	}
	api.WriteError(w, r, notFoundModel(rel))
}

func (h handlers) handleDelete(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	raw := strings.TrimPrefix(ps.ByName("model_path"), "/")
	force := r.URL.Query().Get("force") == "true" || r.URL.Query().Get("force") == "1"
	rel, err := h.s.Delete(raw, force)
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
		rep, err := h.s.Dedupe(r.Context(), body.DryRun)
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
	var req DownloadRequest
	if err := api.DecodeJSON(w, r, &req, 64<<10); err != nil {
		api.WriteError(w, r, err)
		return
	}
	sub, err := h.s.Submit(r.Context(), req)
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
	u, err := h.s.Usage()
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, u)
}

// DownloadView is a download operation as the downloads API shows it.
type DownloadView struct {
	ID string `json:"id"`
	// Status, DestPath, Speed, ETA, Attempts, CanPause and CanResume repeat the fields under
	// the names the original launcher's web UI reads.
	Status    string  `json:"status"`
	DestPath  string  `json:"dest_path"`
	Speed     float64 `json:"speed"`
	ETA       float64 `json:"eta"`
	Attempts  int     `json:"attempts"`
	CanPause  bool    `json:"can_pause"`
	CanResume bool    `json:"can_resume"`

	OperationID     string    `json:"operation_id"`
	State           string    `json:"state"`
	Paused          bool      `json:"paused"`
	URL             string    `json:"url,omitempty"`
	Source          string    `json:"source,omitempty"`
	Folder          string    `json:"folder"`
	Filename        string    `json:"filename"`
	Path            string    `json:"path"`
	SHA256          string    `json:"sha256,omitempty"`
	ProjectID       string    `json:"project_id,omitempty"`
	Progress        float64   `json:"progress"`
	BytesDownloaded int64     `json:"bytes_downloaded"`
	TotalBytes      int64     `json:"total_bytes"`
	SpeedBps        float64   `json:"speed_bps"`
	Attempt         int       `json:"attempt"`
	MaxAttempts     int       `json:"max_attempts"`
	Error           string    `json:"error,omitempty"`
	ErrorClass      string    `json:"error_class,omitempty"`
	LinkedFrom      string    `json:"linked_from,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func viewOf(op recovery.Operation) DownloadView {
	str := func(k string) string { v, _ := op.Metadata[k].(string); return v }
	num := func(k string) float64 { v, _ := op.Metadata[k].(float64); return v }
	paused, _ := op.Metadata["paused"].(bool)
	u := str("resolved_url")
	if u == "" {
		u = str("url")
	}
	v := DownloadView{
		ID: op.ID, OperationID: op.ID, State: string(op.State), Paused: paused, URL: redactURL(u), Source: str("source"),
		Folder: str("folder"), Filename: str("filename"), Path: str("path"), SHA256: str("sha256"), ProjectID: str("project_id"),
		Progress: num("progress"), BytesDownloaded: int64(num("bytes_downloaded")), TotalBytes: int64(num("total_bytes")),
		SpeedBps: num("speed_bps"), Attempt: op.Attempt, MaxAttempts: op.MaxAttempts, Error: op.Error, ErrorClass: string(op.ErrorClass),
		LinkedFrom: str("linked_from"), CreatedAt: op.CreatedAt, UpdatedAt: op.UpdatedAt,
	}
	v.Status, v.DestPath, v.Speed, v.Attempts = v.State, v.Path, v.SpeedBps, op.TotalAttempts
	if v.SpeedBps > 0 && v.TotalBytes > v.BytesDownloaded && op.State == recovery.StateInProgress {
		v.ETA = float64(v.TotalBytes-v.BytesDownloaded) / v.SpeedBps
	}
	v.CanPause = op.State.Active()
	v.CanResume = v.Paused
	return v
}

func (h handlers) noRunner(w http.ResponseWriter, r *http.Request) bool {
	if h.s.runner == nil {
		api.WriteError(w, r, apierr.New(apierr.Unavailable, "ServiceUnavailableError", "downloads are not available: the recovery runner is not wired"))
		return true
	}
	return false
}

func (h handlers) handleDownloads(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if h.noRunner(w, r) {
		return
	}
	ops, err := h.s.runner.List(recovery.Filter{Function: FunctionDownload})
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	out := make([]DownloadView, 0, len(ops))
	for _, op := range ops {
		out = append(out, viewOf(op))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "downloads": out, "total_count": len(out)})
}

// downloadSettings shows the effective download settings in the original launcher's shape.
func (h handlers) downloadSettings() map[string]any {
	d := h.s.dl.Options()
	return map[string]any{
		"max_concurrent_downloads": h.s.opts.MaxConcurrent, "max_retries": h.s.opts.MaxAttempts, "chunk_size": 1 << 20,
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
	if ps.ByName("id") == "settings" {
		api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "settings": h.downloadSettings()})
		return
	}
	if h.noRunner(w, r) {
		return
	}
	if ps.ByName("id") == "history" {
		ops, err := h.s.runner.List(recovery.Filter{Function: FunctionDownload, States: []recovery.State{recovery.StateSuccess, recovery.StateFailed, recovery.StateExhausted, recovery.StateCancelled}})
		if err != nil {
			api.WriteError(w, r, err)
			return
		}
		out := make([]DownloadView, 0, len(ops))
		for _, op := range ops {
			out = append(out, viewOf(op))
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "history": out, "total_count": len(out)})
		return
	}
	op, err := h.s.getDownload(ps.ByName("id"))
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, viewOf(op))
}

func (h handlers) handleDownloadAction(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	if h.noRunner(w, r) {
		return
	}
	id := ps.ByName("id")
	if _, err := h.s.getDownload(id); err != nil {
		api.WriteError(w, r, err)
		return
	}
	var err error
	switch action := ps.ByName("action"); action {
	case "pause":
		err = h.s.runner.Pause(id)
	case "resume":
		err = h.s.runner.Resume(id)
	case "cancel":
		err = h.s.runner.Cancel(id)
	default:
		api.WriteError(w, r, apierr.Newf(apierr.NotFound, "NotFoundError", "unknown download action %q", action).
			Suggest("Use pause, resume or cancel"))
		return
	}
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	// Give the runner a moment to settle so the answer shows the new state.
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	op, _ := h.s.runner.Get(id)
	if a := ps.ByName("action"); a != "resume" && !op.State.Terminal() {
		op, _ = h.s.runner.Wait(ctx, id)
	}
	api.WriteJSON(w, http.StatusOK, viewOf(op))
}
