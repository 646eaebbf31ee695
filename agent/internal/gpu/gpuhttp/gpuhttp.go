// Package gpuhttp serves the GPU manager over the REST API: GET /api/gpus shows the
// inventory, the placements and the measured use. Package gpu knows nothing of HTTP.
package gpuhttp

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/gpu"
)

// Routes registers GET /api/gpus, served by m.
func Routes(r *httprouter.Router, m *gpu.Manager) {
	r.GET("/api/gpus", func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		api.WriteJSON(w, http.StatusOK, m.Snapshot(r.Context()))
	})
}
