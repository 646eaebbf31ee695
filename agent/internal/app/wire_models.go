package app

import (
	"context"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/models"
	"github.com/comfylauncher/launcher/agent/internal/models/modelshttp"
)

// keepFailedPartials is how long the partial file of a download that ended in failure is kept
// for a later retry before start-up cleanup removes it.
const keepFailedPartials = 7 * 24 * time.Hour

// wireModels builds the shared model store; it registers the download operation on the
// runner and serves as the workflow package's model catalog.
func (a *App) wireModels() error {
	opts, reg, err := models.FromConfig(a.cfg, a.log.With("component", "models"), a.managerData, a.ext)
	if err != nil {
		return err
	}
	svc, err := models.New(opts, a.db, a.recovery, a.hub, reg)
	if err != nil {
		return err
	}
	a.models = svc
	a.catalog = svc
	modelshttp.Routes(a.api.Router, svc)
	a.api.AddHealth("model_index", svc.Catalog.IndexHealth)
	a.starters = append(a.starters, svc.Start)
	a.lateStarters = append(a.lateStarters, func(context.Context) error {
		if n, err := svc.Downloads.CleanPartials(keepFailedPartials); err != nil {
			a.log.Warn("clean partial downloads", "err", err)
		} else if n > 0 {
			a.log.Info("removed abandoned partial downloads", "bytes", n)
		}
		return nil
	})
	return nil
}
