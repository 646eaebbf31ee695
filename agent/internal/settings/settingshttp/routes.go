// Package settingshttp serves the user settings over HTTP: GET /api/settings and the original
// UI's config routes.
package settingshttp

import (
	"net/http"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/settings"
	"github.com/julienschmidt/httprouter"
)

// configBodyLimit caps a posted user config.
const configBodyLimit = 1 << 20

// handlers translate the settings routes to Settings calls.
type handlers struct{ s *settings.Settings }

// Routes registers GET /api/settings and the original UI's config routes (get_config,
// update_config, set_config).
func Routes(r *httprouter.Router, s *settings.Settings) {
	h := handlers{s: s}
	r.GET("/api/settings", h.server)
	r.GET("/api/get_config", h.getConfig)
	r.POST("/api/update_config", h.writeConfig(s.Update))
	r.POST("/api/set_config", h.writeConfig(s.Replace))
}

func (h handlers) server(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	srv := h.s.Server()
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"PROJECT_MIN_PORT":                    srv.PortMin,
		"PROJECT_MAX_PORT":                    srv.PortMax,
		"ALLOW_OVERRIDABLE_PORTS_PER_PROJECT": true,
		// ComfyUI listens on loopback only; the UI reaches it through /comfy/<id>/.
		"PROXY_MODE":   true,
		"PROJECTS_DIR": srv.ProjectsDir,
		"MODELS_DIR":   srv.ModelsDir,
	})
}

func (h handlers) getConfig(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	cfg, err := h.s.Masked()
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, cfg)
}

// writeConfig decodes the body as a JSON object and hands it to store (Update or Replace).
func (h handlers) writeConfig(store func(in map[string]any) error) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		var in map[string]any
		if err := api.DecodeJSON(w, r, &in, configBodyLimit); err != nil {
			api.WriteError(w, r, err)
			return
		}
		if in == nil {
			api.WriteError(w, r, apierr.New(apierr.Invalid, "ValidationError", "config must be a JSON object",
				`Send e.g. {"credentials": {"civitai": {"apikey": "..."}}}`))
			return
		}
		if err := store(in); err != nil {
			api.WriteError(w, r, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"success": true})
	}
}
