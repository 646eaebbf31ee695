package config

import (
	"fmt"
	"time"
)

// GPUConfig is the [gpu] section.
type GPUConfig struct {
	// Provider is auto, nvidia-smi, fake or none.
	Provider        string   `toml:"provider"`
	NvidiaSMI       string   `toml:"nvidia_smi"`
	ReserveMB       int64    `toml:"reserve_mb"`
	RefreshInterval Duration `toml:"refresh_interval"`
	QueryTimeout    Duration `toml:"query_timeout"`
	// DefaultEstimateMB is reserved for a project whose workflow gives no VRAM estimate.
	DefaultEstimateMB int64     `toml:"default_estimate_mb"`
	Fake              []FakeGPU `toml:"fake"`
}

// FakeGPU describes one GPU of the fake provider.
type FakeGPU struct {
	UUID          string `toml:"uuid"`
	Name          string `toml:"name"`
	MemoryTotalMB int64  `toml:"memory_total_mb"`
	MemoryUsedMB  int64  `toml:"memory_used_mb"`
}

func (g *GPUConfig) setDefaults() {
	g.Provider = "auto"
	g.NvidiaSMI = "nvidia-smi"
	g.ReserveMB = 512
	g.RefreshInterval = Duration{5 * time.Second}
	g.QueryTimeout = Duration{10 * time.Second}
	g.DefaultEstimateMB = 4096
}

func (g *GPUConfig) validate() []error {
	var errs []error
	switch g.Provider {
	case "auto", "nvidia-smi", "fake", "none":
	default:
		errs = append(errs, fmt.Errorf("gpu.provider %q is not one of auto, nvidia-smi, fake, none", g.Provider))
	}
	if g.Provider == "fake" && len(g.Fake) == 0 {
		errs = append(errs, fmt.Errorf("gpu.provider = \"fake\" needs at least one [[gpu.fake]] entry with uuid and memory_total_mb"))
	}
	for i, f := range g.Fake {
		if f.UUID == "" || f.MemoryTotalMB <= 0 {
			errs = append(errs, fmt.Errorf("gpu.fake[%d] needs uuid and a positive memory_total_mb", i))
		}
	}
	if g.QueryTimeout.Duration <= 0 {
		errs = append(errs, fmt.Errorf("gpu.query_timeout must be positive, e.g. \"10s\""))
	}
	if g.ReserveMB < 0 {
		errs = append(errs, fmt.Errorf("gpu.reserve_mb must not be negative"))
	}
	return errs
}
