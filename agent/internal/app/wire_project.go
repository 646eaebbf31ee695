package app

import (
	"context"
	"net/url"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/models/sources"

	"github.com/comfylauncher/launcher/agent/internal/ports"
	"github.com/comfylauncher/launcher/agent/internal/process"
	"github.com/comfylauncher/launcher/agent/internal/project"
	"github.com/comfylauncher/launcher/agent/internal/project/bind"
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
	deps.OnUserConfig = a.applyUserConfig
	m := project.New(deps, project.OptionsFromConfig(a.cfg))
	ref.Set(m)
	a.projects = m
	if err := m.Register(); err != nil {
		return err
	}
	a.models.SetProjects(m) // used_by_projects
	m.Routes(a.api.Router)
	a.snapshots = append(a.snapshots, m.Snapshot)
	a.lateStarters = append(a.lateStarters, func(ctx context.Context) error {
		if cfg, err := m.UserConfig(); err == nil {
			a.applyUserConfig(cfg)
		}
		return m.Start(ctx)
	})
	a.stoppers = append(a.stoppers, func(ctx context.Context) error {
		err := m.Stop(ctx)
		sup.Detach() // ComfyUI keeps running; the next agent re-adopts it
		return err
	})
	return nil
}

// applyUserConfig lets the CivitAI API key saved from the web UI's settings page
// (credentials.civitai.apikey, as the original launcher stored it) authenticate downloads from
// CivitAI, unless launcher.toml configures a token, which wins.
func (a *App) applyUserConfig(cfg map[string]any) {
	civ := a.cfg.Sources.CivitAI
	if tok, _ := civ.Token(); tok != "" {
		return
	}
	u, err := url.Parse(civ.Endpoint)
	if err != nil || u.Hostname() == "" {
		return
	}
	key := ""
	if creds, ok := cfg["credentials"].(map[string]any); ok {
		if c, ok := creds["civitai"].(map[string]any); ok {
			key, _ = c["apikey"].(string)
		}
	}
	a.models.Sources().SetCredential(u.Hostname(), sources.Credential{Header: "Authorization", Value: bearer(key)})
}

func bearer(key string) string {
	if key = strings.TrimSpace(key); key == "" {
		return ""
	}
	return "Bearer " + key
}
