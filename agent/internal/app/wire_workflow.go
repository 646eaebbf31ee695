package app

import (
	"context"
	"path/filepath"

	"github.com/comfylauncher/launcher/agent/internal/workflow"
)

func (a *App) wireWorkflow() error {
	mc := a.cfg.Manager
	data := workflow.NewManagerData(workflow.ManagerOptions{
		URLs: map[string]string{
			workflow.FileNodeMap:    mc.ExtensionNodeMapURL,
			workflow.FileStats:      mc.GithubStatsURL,
			workflow.FileModelList:  mc.ModelListURL,
			workflow.FileCustomList: mc.CustomNodeListURL,
		},
		CacheDir: filepath.Join(a.cfg.Paths.DataDir, "manager"),
		SeedDir:  mc.SeedDir,
		MaxAge:   mc.MaxAge.Duration,
	})
	wc := a.cfg.Workflow
	if err := workflow.RegisterParsers(context.Background(), a.ext); err != nil {
		return err
	}
	svc := workflow.NewService(workflow.Options{
		Limits:     workflow.Limits{MaxBytes: wc.MaxBytes, MaxNodes: wc.MaxNodes, MaxDepth: wc.MaxDepth},
		Catalog:    a.catalog,
		Manager:    data,
		Extensions: a.ext,
		Logger:     a.log.With("component", "workflow"),
	})
	a.workflow = svc
	svc.Routes(a.api.Router)
	a.api.AddHealth("manager_data", func() (bool, any) {
		warnings := data.Warnings()
		return true, map[string]any{"files": data.Status(), "warnings": warnings}
	})
	a.starters = append(a.starters, func(ctx context.Context) error {
		if err := data.Load(ctx); err != nil {
			a.log.Warn("ComfyUI-Manager data cache unreadable; node packs resolve from core types only", "err", err)
		}
		return nil
	})
	// Refresh stale data in the background so a node without internet starts at once.
	a.background(func(ctx context.Context) {
		if data.NeedsRefresh() {
			if err := data.Refresh(ctx); err != nil {
				a.log.Warn("refresh ComfyUI-Manager data", "err", err)
			}
		}
	})
	return nil
}
