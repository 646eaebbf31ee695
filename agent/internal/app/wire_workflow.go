package app

import (
	"context"

	"github.com/comfylauncher/launcher/agent/internal/workflow"
	"github.com/comfylauncher/launcher/agent/internal/workflow/workflowhttp"
)

func (a *App) wireWorkflow() error {
	wc := a.cfg.Workflow
	if err := workflow.RegisterParsers(context.Background(), a.ext); err != nil {
		return err
	}
	svc := workflow.NewService(workflow.Options{
		Limits:     workflow.Limits{MaxBytes: wc.MaxBytes, MaxNodes: wc.MaxNodes, MaxDepth: wc.MaxDepth},
		Catalog:    a.catalog,
		Manager:    a.managerData,
		Extensions: a.ext,
		Logger:     a.log.With("component", "workflow"),
	})
	a.workflow = svc
	workflowhttp.Routes(a.api.Router, svc, a.cfg.Manager.ImportRoot)
	return nil
}
