package config

import (
	"fmt"
	"time"
)

// LogConfig is the [log] section: the agent's own log and how long project logs are kept.
type LogConfig struct {
	// Format is "text" (key=value lines) or "json" (one object a line, for log shippers).
	Format string `toml:"format"`
	// Level is debug, info, warn or error; empty uses server.log_level.
	Level string `toml:"level"`
	// RunLogMaxAge deletes ComfyUI run logs (projects/<id>/logs/run-*.log) older than this;
	// 0 keeps them. The current run's log and the newest one are always kept.
	RunLogMaxAge Duration `toml:"run_log_max_age"`
	// RunLogMaxBytes caps the run logs of one project, deleting the oldest first; 0: no cap.
	RunLogMaxBytes int64 `toml:"run_log_max_bytes"`
	// EntriesMaxAge deletes project log entries (the logs bucket behind GET /api/logs/{id})
	// older than this; 0 keeps them.
	EntriesMaxAge Duration `toml:"entries_max_age"`
	// EntriesMaxBytes caps the logs bucket across all projects, deleting the oldest entries
	// first; 0: no cap.
	EntriesMaxBytes int64 `toml:"entries_max_bytes"`
	// PruneInterval is how often the limits above are applied (and once at start).
	PruneInterval Duration `toml:"prune_interval"`
}

func (l *LogConfig) setDefaults() {
	l.Format = "text"
	l.RunLogMaxAge = Duration{30 * 24 * time.Hour}
	l.RunLogMaxBytes = 256 << 20
	l.EntriesMaxAge = Duration{30 * 24 * time.Hour}
	l.EntriesMaxBytes = 128 << 20
	l.PruneInterval = Duration{time.Hour}
}

// EffectiveLevel is log.level, else server.log_level.
func (c *Config) EffectiveLevel() string {
	if c.Log.Level != "" {
		return c.Log.Level
	}
	return c.Server.LogLevel
}

func (l *LogConfig) validate() []error {
	var errs []error
	switch l.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format %q is not one of text, json", l.Format))
	}
	switch l.Level {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q is not one of debug, info, warn, error", l.Level))
	}
	if l.RunLogMaxAge.Duration < 0 || l.EntriesMaxAge.Duration < 0 || l.RunLogMaxBytes < 0 || l.EntriesMaxBytes < 0 {
		errs = append(errs, fmt.Errorf("log.run_log_max_age, run_log_max_bytes, entries_max_age and entries_max_bytes must not be negative (0 turns a limit off)"))
	}
	if l.PruneInterval.Duration < time.Minute {
		errs = append(errs, fmt.Errorf("log.prune_interval = %s is too short: use at least 1m, e.g. \"1h\"", l.PruneInterval.Duration))
	}
	return errs
}
