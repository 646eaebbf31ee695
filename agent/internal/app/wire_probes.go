package app

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/julienschmidt/httprouter"
)

// Probe paths for orchestrators (Kubernetes, Nomad, load balancers); served without a token.
const (
	livezPath  = "/livez"
	readyzPath = "/readyz"
)

// probes tracks readiness: the store is open (New succeeded), every start hook ran (state
// restored, operations resumed) and the declared [[projects]] were reconciled once.
type probes struct {
	once    sync.Once
	started chan struct{} // closed when every start hook has run
	ready   chan struct{} // closed when started and reconciled
	// stopping is set when shutdown begins: not ready any more.
	stopping atomic.Bool
}

// wireProbes registers /livez and /readyz. Call it last: its start hook runs after every
// other subsystem's.
func (a *App) wireProbes() error {
	a.probes.started = make(chan struct{})
	a.probes.ready = make(chan struct{})
	a.api.Router.GET(livezPath, func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		api.WriteJSON(w, http.StatusOK, map[string]any{"status": "alive"})
	})
	a.api.Router.GET(readyzPath, a.handleReadyz)
	a.lateStarters = append(a.lateStarters, func(context.Context) error {
		a.probes.once.Do(func() {
			close(a.probes.started)
			go a.awaitReady()
		})
		return nil
	})
	return nil
}

func (a *App) awaitReady() {
	if a.projects != nil {
		<-a.projects.Reconciled()
	}
	close(a.probes.ready)
}

// Ready is closed once the agent is ready to serve: /readyz answers 200 from then on and
// `launcher serve` notifies systemd.
func (a *App) Ready() <-chan struct{} { return a.probes.ready }

func (a *App) handleReadyz(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if a.probes.stopping.Load() {
		api.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "stopping", "waiting_for": []string{}})
		return
	}
	select {
	case <-a.probes.ready:
		api.WriteJSON(w, http.StatusOK, map[string]any{"status": "ready"})
		return
	default:
	}
	waiting := []string{}
	select {
	case <-a.probes.started:
		waiting = append(waiting, "projects_reconciled")
	default:
		waiting = append(waiting, "operations_resumed", "projects_reconciled")
	}
	api.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "starting", "waiting_for": waiting})
}
