package config

import (
	"fmt"
	"os"
)

// Read decodes the config an agent on this machine would use (path, else $LAUNCHER_CONFIG,
// else ./launcher.toml, else the defaults) and resolves its paths, without validating it or
// touching any directory: clients such as the CLI read the token file from it.
func Read(path string) (*Config, error) {
	if path == "" {
		path = os.Getenv(EnvConfig)
	}
	if path == "" {
		if _, err := os.Stat("launcher.toml"); err == nil {
			path = "launcher.toml"
		}
	}
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w (pass --config PATH or set %s)", err, EnvConfig)
		}
		if err := Decode(data, c); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		c.File = path
	}
	c.resolve()
	return c, nil
}
