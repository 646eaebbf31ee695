package extension

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/apierr"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// EventExtensionUpdate is published (to every client) when an extension is added or changes
// state; its payload is the extension's Status.
const EventExtensionUpdate = "extension_update"

// Routes registers GET /api/extensions and GET /api/extensions/{id}.
func (r *Registry) Routes(rt *httprouter.Router) {
	rt.GET("/api/extensions", r.handleList)
	rt.GET("/api/extensions/:id", r.handleGet)
}

func (r *Registry) orders() map[sdk.Capability][]string {
	out := map[sdk.Capability][]string{}
	for _, c := range sdk.Capabilities {
		ids := []string{}
		for _, e := range r.Ordered(c) {
			ids = append(ids, e.ID())
		}
		out[c] = ids
	}
	return out
}

func (r *Registry) handleList(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"extensions": r.List(),
		"order":      r.orders(),
		"warnings":   append([]string{}, r.Warnings()...),
	})
}

func (r *Registry) handleGet(w http.ResponseWriter, req *http.Request, p httprouter.Params) {
	id := p.ByName("id")
	e, ok := r.Get(id)
	if !ok {
		api.WriteError(w, req, apierr.Newf(apierr.NotFound, "NotFoundError", "no extension %q", id).
			Suggest("List extensions with GET /api/extensions; ids look like builtin.huggingface, wasm.<name> or plugin.<name>"))
		return
	}
	api.WriteJSON(w, http.StatusOK, e.Status())
}
