package config

// ProjectConfig is one [[projects]] entry: a project the agent creates, installs and keeps
// running at boot (desired state for headless nodes).
type ProjectConfig struct {
	ID string `toml:"id"`
}

func validateProjects(ps []ProjectConfig, ports PortsConfig) []error { return nil }
