package recovery

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// maxListLimit caps GET /api/recovery/operations?limit=.
const maxListLimit = 1000

// Routes registers the /api/recovery endpoints.
func (r *Runner) Routes(rt *httprouter.Router) {
	rt.GET("/api/recovery/status", r.handleStatus)
	rt.GET("/api/recovery/operations", r.handleList)
	rt.GET("/api/recovery/operations/:id", r.handleGet)
	rt.POST("/api/recovery/operations/:id/retry", r.handleRetry)
	rt.POST("/api/recovery/operations/:id/cancel", r.handleCancel)
	rt.POST("/api/recovery/operations/:id/pause", r.handlePause)
	rt.POST("/api/recovery/operations/:id/resume", r.handleResume)
	rt.GET("/api/recovery/breakers", r.handleBreakers)
	rt.GET("/api/recovery/performance", r.handlePerformance)
}

func (r *Runner) handleStatus(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	perf := r.Totals().Performance()
	active, _ := r.List(Filter{States: []State{StatePending, StateInProgress, StateRecovering}})
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"success": true,
		"recovery": map[string]any{
			"enabled":                   !r.opts.Disabled,
			"persistence_enabled":       true,
			"max_retries":               r.opts.MaxAttempts,
			"circuit_breaker_threshold": r.opts.Breaker.Threshold,
			"active_operations":         len(active),
			"total_operations":          perf.TotalOperations,
			"recovered_operations":      perf.RecoveredOperations,
			"failed_operations":         perf.FailedOperations,
			"average_recovery_time":     perf.AverageRecoveryTime,
			"retry_attempts":            perf.RetryAttempts,
			"circuit_breaker_trips":     perf.CircuitBreakerTrips,
			"workers":                   r.opts.Workers,
			"strategies":                r.StrategyIDs(),
			"circuit_breakers":          r.Breakers(),
		},
	})
}

func (r *Runner) handleList(w http.ResponseWriter, req *http.Request, _ httprouter.Params) {
	q := req.URL.Query()
	var f Filter
	if s := q.Get("state"); s != "" {
		for _, part := range strings.Split(s, ",") {
			st := State(strings.TrimSpace(part))
			if !st.Valid() {
				api.WriteError(w, req, apierr.Newf(apierr.Invalid, "ValidationError", "unknown state %q", part).
					Suggest(fmt.Sprintf("Use a comma-separated list of %v", States)))
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
	ops, err := r.List(f)
	if err != nil {
		api.WriteError(w, req, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "operations": ops})
}

func (r *Runner) handleGet(w http.ResponseWriter, req *http.Request, ps httprouter.Params) {
	op, err := r.Get(ps.ByName("id"))
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

func (r *Runner) handleRetry(w http.ResponseWriter, req *http.Request, ps httprouter.Params) {
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
	retryID, err := r.Retry(id, body.Force, body.MaxAttempts)
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

func (r *Runner) handleCancel(w http.ResponseWriter, req *http.Request, ps httprouter.Params) {
	id := ps.ByName("id")
	if err := r.Cancel(id); err != nil {
		api.WriteError(w, req, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "message": fmt.Sprintf("Operation %s cancelled", id), "state": StateCancelled})
}

func (r *Runner) handlePause(w http.ResponseWriter, req *http.Request, ps httprouter.Params) {
	id := ps.ByName("id")
	if err := r.Pause(id); err != nil {
		api.WriteError(w, req, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "message": fmt.Sprintf("Operation %s paused", id), "state": StateCancelled, "paused": true})
}

func (r *Runner) handleResume(w http.ResponseWriter, req *http.Request, ps httprouter.Params) {
	id := ps.ByName("id")
	if err := r.Resume(id); err != nil {
		api.WriteError(w, req, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "message": fmt.Sprintf("Operation %s resumed", id), "state": StatePending})
}

func (r *Runner) handleBreakers(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "circuit_breakers": r.Breakers()})
}

func (r *Runner) handlePerformance(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "performance": r.Totals().Performance()})
}
