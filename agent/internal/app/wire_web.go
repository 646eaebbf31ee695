package app

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/web"
)

// wireWeb serves the browser UI at /: the embedded dashboard, or server.ui_dir. The UI sits in
// front of the API handler and only answers GET/HEAD paths no route owns, so it needs no token
// (it holds no data; the dashboard asks for the token and sends it with every API call).
func (a *App) wireWeb() error {
	h, err := web.New(web.Options{
		Dir: a.cfg.Server.UIDir,
		IsRoute: func(r *http.Request) bool {
			handle, _, _ := a.api.Router.Lookup(r.Method, r.URL.Path)
			return handle != nil
		},
	})
	if err != nil {
		return err
	}
	a.web = h
	a.api.Router.GET("/api/open_models_folder", a.handleOpenModelsFolder)
	return nil
}

// handleOpenModelsFolder answers the original UI's "Models" button: a headless agent has no
// file manager to open, so it says where the folder is.
func (a *App) handleOpenModelsFolder(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	dir := a.cfg.Paths.ModelsDir
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"success": true, "opened": false, "path": dir,
		"message": "The agent runs headless and cannot open a file manager; the models folder is " + dir,
	})
}
