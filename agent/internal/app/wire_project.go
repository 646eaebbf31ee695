package app

import (
	"context"

	"github.com/comfylauncher/launcher/agent/internal/ports"
	"github.com/comfylauncher/launcher/agent/internal/process"
	"github.com/comfylauncher/launcher/agent/internal/project"
	"github.com/comfylauncher/launcher/agent/internal/project/bind"
	"github.com/comfylauncher/launcher/agent/internal/project/projecthttp"
	"github.com/comfylauncher/launcher/agent/internal/proxy"
)

// wireProject builds the project lifecycle: the ComfyUI supervisor, port leases, the reverse
// proxy and the project manager. Call it after wireRecovery, wireModels, wireWorkflow and
// wireGPU: it registers install_project on the runner now (so the runner resumes unfinished
// installs), and starts after the runner (a late starter) so re-adoption sees their state.
func (a *App) wireProject() error {
	log := a.log.With("component", "project")
	ref := &bind.ManagerRef{}
	sup := process.New(a.log.With("component", "process"), a.countRestarts(ref.Hooks()), process.Options{})
	leaser := ports.New(a.cfg.Ports.Min, a.cfg.Ports.Max)
	proxy.New(ref, a.log).WithCheck(a.api.CheckBrowser).Routes(a.api.Router)

	deps := project.Deps{
		Store:      a.db,
		Publisher:  a.hub,
		Ports:      leaser,
		Supervisor: bind.Supervisor{S: sup},
		Ops:        bind.RecoveryOps{Runner: a.recovery},
		Models:     bind.Models{Service: a.models},
		Importer:   bind.Importer{Service: a.workflow},
		Logger:     log,
	}
	if a.gpu != nil {
		deps.GPUs = a.gpu // *gpu.Manager satisfies project.GPUs
	}
	m := project.New(deps, project.OptionsFromConfig(a.cfg))
	ref.Set(m)
	a.projects = m
	if err := m.Register(); err != nil {
		return err
	}
	a.models.SetProjects(m) // used_by_projects
	projecthttp.Routes(a.api.Router, m, a.cfg.Server.MaxBodyBytes)
	a.api.AddHealth("projects", m.Health)
	a.snapshots = append(a.snapshots, m.Snapshot)
	a.lateStarters = append(a.lateStarters, func(ctx context.Context) error {
		return m.Start(ctx)
	})
	a.stoppers = append(a.stoppers, func(ctx context.Context) error {
		err := m.Stop(ctx)
		sup.Detach() // ComfyUI keeps running; the next agent re-adopts it
		return err
	})
	return nil
}
