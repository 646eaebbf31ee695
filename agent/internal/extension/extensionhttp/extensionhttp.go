// Package extensionhttp serves the extension registry over HTTP: GET /api/extensions (every
// extension, the order each capability asks them in, and the registry's warnings) and GET
// /api/extensions/{id}. Package extension knows nothing of HTTP.
package extensionhttp

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/extension"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// handlers translate the /api/extensions routes to Registry calls.
type handlers struct{ r *extension.Registry }

// Routes registers GET /api/extensions and GET /api/extensions/{id}, served by r.
func Routes(rt *httprouter.Router, r *extension.Registry) {
	h := handlers{r: r}
	rt.GET("/api/extensions", h.handleList)
	rt.GET("/api/extensions/:id", h.handleGet)
}

func (h handlers) orders() map[sdk.Capability][]string {
	out := map[sdk.Capability][]string{}
	for _, c := range sdk.Capabilities {
		ids := []string{}
		for _, e := range h.r.Ordered(c) {
			ids = append(ids, e.ID())
		}
		out[c] = ids
	}
	return out
}

func (h handlers) handleList(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"extensions": h.r.List(),
		"order":      h.orders(),
		"warnings":   append([]string{}, h.r.Warnings()...),
	})
}

func (h handlers) handleGet(w http.ResponseWriter, req *http.Request, p httprouter.Params) {
	id := p.ByName("id")
	e, ok := h.r.Get(id)
	if !ok {
		api.WriteError(w, req, apierr.Newf(apierr.NotFound, "NotFoundError", "no extension %q", id).
			Suggest("List extensions with GET /api/extensions; ids look like builtin.huggingface, wasm.<name> or plugin.<name>"))
		return
	}
	api.WriteJSON(w, http.StatusOK, e.Status())
}
