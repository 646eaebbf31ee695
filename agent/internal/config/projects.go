package config

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/gpu/gpupref"
)

// ProjectConfig is one [[projects]] entry: a project the agent creates, installs and keeps
// in the declared state at boot (desired state for headless nodes that are configured once).
type ProjectConfig struct {
	// ID is the project id (lowercase letters, digits, "-" and "_").
	ID string `toml:"id"`
	// Name is shown in the UI; defaults to the id.
	Name string `toml:"name"`
	// LauncherJSON is a path to a launcher JSON (workflow + snapshot + files); Template names
	// a template instead; neither installs plain ComfyUI.
	LauncherJSON string `toml:"launcher_json"`
	Template     string `toml:"template"`
	// Port fixes the ComfyUI port; 0 leases a free one from [ports].
	Port int `toml:"port"`
	// GPU is "auto", "none", or a list of GPU UUIDs or indexes.
	GPU any `toml:"gpu"`
	// Restart is never, on-failure (default) or always.
	Restart    string            `toml:"restart"`
	LaunchArgs []string          `toml:"launch_args"`
	Env        map[string]string `toml:"env"`
	// State is "running" (default) or "stopped".
	State string `toml:"state"`
}

// GPUPreference parses the gpu setting (validated by Validate).
func (p ProjectConfig) GPUPreference() gpupref.Preference {
	pref, err := gpupref.ParsePreference(p.GPU)
	if err != nil {
		return gpupref.AutoPreference
	}
	return pref
}

// DesiredState is State with its default.
func (p ProjectConfig) DesiredState() string {
	if p.State == "" {
		return "running"
	}
	return p.State
}

var projectIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func validateProjects(ps []ProjectConfig, ports PortsConfig) []error {
	var errs []error
	add := func(i int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("projects[%d]: "+format, append([]any{i}, args...)...))
	}
	ids := map[string]int{}
	usedPorts := map[int]int{}
	for i, p := range ps {
		if !projectIDPattern.MatchString(p.ID) {
			add(i, "id %q must be 1-63 lowercase letters, digits, \"-\" or \"_\", starting with a letter or digit", p.ID)
		} else if j, dup := ids[p.ID]; dup {
			add(i, "id %q is also used by projects[%d]: ids must be unique", p.ID, j)
		} else {
			ids[p.ID] = i
		}
		if p.LauncherJSON != "" && p.Template != "" {
			add(i, "set launcher_json or template, not both")
		}
		if p.LauncherJSON != "" {
			if _, err := os.Stat(p.LauncherJSON); err != nil {
				add(i, "launcher_json %q: %v (use an absolute path or one relative to the agent's working directory)", p.LauncherJSON, err)
			}
		}
		if p.Port != 0 {
			if p.Port < 1024 || p.Port > 65535 {
				add(i, "port %d must lie within 1024..65535 (ports.min..max is %d..%d)", p.Port, ports.Min, ports.Max)
			}
			if j, dup := usedPorts[p.Port]; dup {
				add(i, "port %d is also used by projects[%d]", p.Port, j)
			}
			usedPorts[p.Port] = i
		}
		if _, err := gpupref.ParsePreference(p.GPU); err != nil {
			add(i, "%v", err)
		}
		switch p.Restart {
		case "", "never", "on-failure", "always":
		default:
			add(i, "restart %q is not one of never, on-failure, always", p.Restart)
		}
		switch p.State {
		case "", "running", "stopped":
		default:
			add(i, "state %q is not \"running\" or \"stopped\"", p.State)
		}
		for _, a := range p.LaunchArgs {
			name, _, _ := strings.Cut(a, "=")
			if name == "--port" || name == "--listen" || name == "--extra-model-paths-config" {
				add(i, "launch_args must not contain %s: the agent sets it (use port = N for a fixed port)", name)
			}
		}
	}
	return errs
}
