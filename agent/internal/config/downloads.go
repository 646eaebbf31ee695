package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DownloadsConfig is the [downloads] section (owned by the model store): how model files are
// fetched. Defaults suit a GPU node on a fast link; every limit is per agent.
type DownloadsConfig struct {
	// MaxConnections per large file from a server that honours byte ranges (1 disables
	// segments). A download starts with one and doubles them while throughput grows.
	MaxConnections int `toml:"max_connections"`
	// Connections is the former name of max_connections; when set, it is used as such.
	Connections int `toml:"connections"`
	// ParallelMinSize is the smallest file fetched over several connections, e.g. "64MiB".
	ParallelMinSize ByteSize `toml:"parallel_min_size"`
	// PerHostConnections caps concurrent connections to one host across all downloads.
	PerHostConnections int `toml:"per_host_connections"`
	// MaxConcurrent is how many files download at once.
	MaxConcurrent int `toml:"max_concurrent"`
	// MaxAttempts per download before it is marked exhausted.
	MaxAttempts int `toml:"max_attempts"`
	// CheckpointInterval and CheckpointSize bound what a crash re-downloads (whichever first).
	CheckpointInterval Duration `toml:"checkpoint_interval"`
	CheckpointSize     ByteSize `toml:"checkpoint_size"`
	// StallTimeout aborts (and retries) an attempt that receives no byte for this long.
	StallTimeout Duration `toml:"stall_timeout"`
	// MaxRestarts caps restarts from byte 0 (server ignored Range, file changed upstream).
	MaxRestarts int `toml:"max_restarts"`
	// DiskMargin and DiskMarginPercent: free space kept after a download (the larger wins).
	DiskMargin        ByteSize `toml:"disk_margin"`
	DiskMarginPercent float64  `toml:"disk_margin_percent"`
	// Preallocate reserves the remaining bytes (fallocate) so a full disk fails at the start.
	Preallocate bool `toml:"preallocate"`
	// KeepCached leaves what a download wrote in the page cache; off, the bytes leave it once
	// hashed and on the disk.
	KeepCached bool `toml:"keep_cached"`
	// BreakerThreshold consecutive network failures to a host open its breaker for BreakerCooldown.
	BreakerThreshold int      `toml:"breaker_threshold"`
	BreakerCooldown  Duration `toml:"breaker_cooldown"`
	UserAgent        string   `toml:"user_agent"`
	// ExtraFolders adds custom node folders to the store: key = ["dir", ...] relative to
	// paths.models_dir, e.g. reactor = ["reactor/faces"].
	ExtraFolders map[string][]string `toml:"extra_folders"`
}

func (d *DownloadsConfig) setDefaults() {
	d.MaxConnections = 8
	d.ParallelMinSize = 64 << 20
	d.PerHostConnections = 8
	d.MaxConcurrent = 3
	d.MaxAttempts = 8
	d.CheckpointInterval = Duration{5 * time.Second}
	d.CheckpointSize = 256 << 20
	d.StallTimeout = Duration{60 * time.Second}
	d.MaxRestarts = 3
	d.DiskMargin = 1 << 30
	d.DiskMarginPercent = 2
	d.Preallocate = true
	d.BreakerThreshold = 5
	d.BreakerCooldown = Duration{30 * time.Second}
	d.UserAgent = "comfyui-launcher-agent"
}

// resolve applies the former key: downloads.connections, when given, is max_connections.
func (d *DownloadsConfig) resolve() {
	if d.Connections != 0 {
		d.MaxConnections, d.Connections = d.Connections, 0
	}
}

var folderKeyRe = regexp.MustCompile(`^[a-z0-9_]+$`)

func (d *DownloadsConfig) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if d.MaxConnections < 1 || d.MaxConnections > 32 {
		add("downloads.max_connections = %d must be within 1..32", d.MaxConnections)
	}
	if d.PerHostConnections < 1 {
		add("downloads.per_host_connections must be at least 1")
	}
	if d.MaxConcurrent < 1 {
		add("downloads.max_concurrent must be at least 1")
	}
	if d.MaxAttempts < 1 {
		add("downloads.max_attempts must be at least 1")
	}
	if d.CheckpointInterval.Duration <= 0 {
		add("downloads.checkpoint_interval must be positive, e.g. \"5s\"")
	}
	if d.CheckpointSize < 1<<20 {
		add("downloads.checkpoint_size must be at least \"1MiB\"")
	}
	if d.StallTimeout.Duration < time.Second {
		add("downloads.stall_timeout must be at least \"1s\"")
	}
	if d.MaxRestarts < 0 {
		add("downloads.max_restarts must not be negative")
	}
	if d.DiskMarginPercent < 0 || d.DiskMarginPercent >= 50 {
		add("downloads.disk_margin_percent = %v must be within 0..50", d.DiskMarginPercent)
	}
	if d.BreakerThreshold < 1 || d.BreakerCooldown.Duration <= 0 {
		add("downloads.breaker_threshold must be at least 1 and downloads.breaker_cooldown positive")
	}
	for k, dirs := range d.ExtraFolders {
		if !folderKeyRe.MatchString(k) {
			add("downloads.extra_folders key %q must be lower-case letters, digits and _", k)
		}
		if len(dirs) == 0 {
			add("downloads.extra_folders.%s needs at least one directory", k)
		}
		for _, dir := range dirs {
			if dir == "" || strings.HasPrefix(dir, "/") || strings.HasPrefix(dir, ".") || strings.Contains(dir, "..") {
				add("downloads.extra_folders.%s directory %q must be relative to paths.models_dir, without \"..\" or a leading dot", k, dir)
			}
		}
	}
	return errs
}

// ByteSize is a size written as "64MiB", "1GB", "512k" or a plain number of bytes.
type ByteSize int64

var sizeRe = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtT]?)(i?)([bB]?)\s*$`)

// UnmarshalText parses a size; K/M/G/T are 1024-based with or without the "i".
func (b *ByteSize) UnmarshalText(text []byte) error {
	m := sizeRe.FindStringSubmatch(string(text))
	if m == nil {
		return fmt.Errorf("invalid size %q (use e.g. \"64MiB\", \"1GiB\" or a number of bytes)", text)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return fmt.Errorf("invalid size %q", text)
	}
	mult := map[string]float64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[strings.ToLower(m[2])]
	*b = ByteSize(f * mult)
	return nil
}

// MarshalText writes the size in bytes.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(b), 10)), nil }
