package project

import (
	"path/filepath"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/config"
)

// OptionsFromConfig maps launcher.toml onto the manager's options.
func OptionsFromConfig(c *config.Config) Options {
	o := Options{
		DataDir:      c.Paths.DataDir,
		ModelsDir:    c.Paths.ModelsDir,
		TemplatesDir: filepath.Join(c.Paths.DataDir, "templates"),
		Repo:         localRepoAbs(c.ComfyUI.Repo),
		Ref:          c.ComfyUI.Ref,
		Python:       c.ComfyUI.Python,
		PipArgs:      c.ComfyUI.PipArgs,
		LaunchArgs:   c.ComfyUI.LaunchArgs,
		ReadyTimeout: c.ComfyUI.ReadyTimeout.Duration,
		StopGrace:    c.ComfyUI.StopGrace.Duration,
		PortMin:      c.Ports.Min,
		PortMax:      c.Ports.Max,
	}
	for _, p := range c.Projects {
		name := p.Name
		if name == "" {
			name = p.ID
		}
		// A relative launcher_json is relative to the working directory, as config
		// validation checked it.
		lj := p.LauncherJSON
		if lj != "" {
			if abs, err := filepath.Abs(lj); err == nil {
				lj = abs
			}
		}
		o.Desired = append(o.Desired, DesiredProject{
			ID: p.ID, Name: name, LauncherJSON: lj, Template: p.Template, Port: p.Port,
			GPU: p.GPUPreference(), Restart: p.Restart, LaunchArgs: p.LaunchArgs, Env: p.Env,
			State: p.DesiredState(),
		})
	}
	return o
}

// localRepoAbs makes a relative local repository path absolute: git clones run in the
// project folder, where a path relative to the agent's working directory means nothing.
func localRepoAbs(repo string) string {
	if repo == "" || strings.Contains(repo, "://") || strings.Contains(repo, "@") || filepath.IsAbs(repo) {
		return repo
	}
	if abs, err := filepath.Abs(repo); err == nil {
		return abs
	}
	return repo
}
