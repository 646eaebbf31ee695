// Package recoveryhttp serves the durable operations runner over HTTP: the /api/recovery
// status, operation (list, get, retry, cancel, pause, resume), breaker and performance
// endpoints. Package recovery knows nothing of HTTP; this package translates requests to
// *recovery.Runner calls and its answers to the API's JSON.
package recoveryhttp

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

// maxListLimit caps GET /api/recovery/operations?limit=.
const maxListLimit = 1000

// handlers translate the /api/recovery routes to Runner calls.
type handlers struct{ r *recovery.Runner }

// Routes registers the /api/recovery endpoints, served by r.
func Routes(rt *httprouter.Router, r *recovery.Runner) {
	h := handlers{r: r}
	rt.GET("/api/recovery/status", h.handleStatus)
	rt.GET("/api/recovery/operations", h.handleList)
	rt.GET("/api/recovery/operations/:id", h.handleGet)
	rt.POST("/api/recovery/operations/:id/retry", h.handleRetry)
	rt.POST("/api/recovery/operations/:id/cancel", h.handleCancel)
	rt.POST("/api/recovery/operations/:id/pause", h.handlePause)
	rt.POST("/api/recovery/operations/:id/resume", h.handleResume)
	rt.GET("/api/recovery/breakers", h.handleBreakers)
	rt.GET("/api/recovery/performance", h.handlePerformance)
}

func (h handlers) handleStatus(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	opts := h.r.Options()
	perf := h.r.Totals().Performance()
	active, _ := h.r.List(recovery.Filter{States: []recovery.State{recovery.StatePending, recovery.StateInProgress, recovery.StateRecovering}})
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"success": true,
		"recovery": map[string]any{
			"enabled":                   !opts.Disabled,
			"persistence_enabled":       true,
			"max_retries":               opts.MaxAttempts,
			"circuit_breaker_threshold": opts.Breaker.Threshold,
			"active_operations":         len(active),
			"total_operations":          perf.TotalOperations,
			"recovered_operations":      perf.RecoveredOperations,
			"failed_operations":         perf.FailedOperations,
			"average_recovery_time":     perf.AverageRecoveryTime,
			"retry_attempts":            perf.RetryAttempts,
			"circuit_breaker_trips":     perf.CircuitBreakerTrips,
			"workers":                   opts.Workers,
			"strategies":                h.r.StrategyIDs(),
			"circuit_breakers":          h.r.Breakers(),
		},
	})
}

func (h handlers) handleList(w http.ResponseWriter, req *http.Request, _ httprouter.Params) {
	q := req.URL.Query()
	var f recovery.Filter
	if s := q.Get("state"); s != "" {
		for _, part := range strings.Split(s, ",") {
			st := recovery.State(strings.TrimSpace(part))
			if !st.Valid() {
				api.WriteError(w, req, apierr.Newf(apierr.Invalid, "ValidationError", "unknown state %q", part).
					Suggest(fmt.Sprintf("Use a comma-separated list of %v", recovery.States)))
				return
			}
			f.States = append(f.States, st)
		}
	}
	f.Function = q.Get("function")
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxListLimit {
			api.WriteError(w, req, apierr.Newf(apierr.Invalid, "ValidationError", "limit %q is not a number between 1 and %d", s, maxListLimit).
				Suggest("Omit limit or send e.g. limit=100"))
			return
		}
		f.Limit = n
	}
	ops, err := h.r.List(f)
	if err != nil {
		api.WriteError(w, req, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "operations": ops})
}

func (h handlers) handleGet(w http.ResponseWriter, req *http.Request, ps httprouter.Params) {
	op, err := h.r.Get(ps.ByName("id"))
	if err != nil {
		api.WriteError(w, req, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "operation": op})
}

type retryRequest struct {
	Force       bool `json:"force"`
	MaxAttempts int  `json:"max_attempts"`
}

func (h handlers) handleRetry(w http.ResponseWriter, req *http.Request, ps httprouter.Params) {
	var body retryRequest
	if req.ContentLength != 0 {
		if err := api.DecodeJSON(w, req, &body, 4096); err != nil && !isEmptyBody(err) {
			api.WriteError(w, req, err)
			return
		}
	}
	if body.MaxAttempts < 0 || body.MaxAttempts > 100 {
		api.WriteError(w, req, apierr.Newf(apierr.Invalid, "ValidationError", "max_attempts %d is out of range", body.MaxAttempts).
			Suggest("Send max_attempts between 1 and 100, or omit it to keep the operation's ceiling"))
		return
	}
	id := ps.ByName("id")
	retryID, err := h.r.Retry(id, body.Force, body.MaxAttempts)
	if err != nil {
		api.WriteError(w, req, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"success":      true,
		"message":      fmt.Sprintf("Operation %s retry initiated", id),
		"retry_id":     retryID,
		"operation_id": id,
	})
}

func isEmptyBody(err error) bool {
	return apierr.Is(err, apierr.Invalid) && strings.Contains(err.Error(), "request body is empty")
}

func (h handlers) handleCancel(w http.ResponseWriter, req *http.Request, ps httprouter.Params) {
	id := ps.ByName("id")
	if err := h.r.Cancel(id); err != nil {
		api.WriteError(w, req, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "message": fmt.Sprintf("Operation %s cancelled", id), "state": recovery.StateCancelled})
}

func (h handlers) handlePause(w http.ResponseWriter, req *http.Request, ps httprouter.Params) {
	id := ps.ByName("id")
	if err := h.r.Pause(id); err != nil {
		api.WriteError(w, req, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "message": fmt.Sprintf("Operation %s paused", id), "state": recovery.StateCancelled, "paused": true})
}

func (h handlers) handleResume(w http.ResponseWriter, req *http.Request, ps httprouter.Params) {
	id := ps.ByName("id")
	if err := h.r.Resume(id); err != nil {
		api.WriteError(w, req, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "message": fmt.Sprintf("Operation %s resumed", id), "state": recovery.StatePending})
}

func (h handlers) handleBreakers(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "circuit_breakers": h.r.Breakers()})
}

func (h handlers) handlePerformance(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "performance": h.r.Totals().Performance()})
}
