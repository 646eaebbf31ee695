package models

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/models/sources"
)

// FromConfig builds the store's Options and its source registry from launcher.toml: the
// [downloads] limits and the [sources] endpoints and tokens (read from env or file here, kept
// in memory only). The comfyui-manager source reads manager, the agent's one Manager data
// component (nil: the source answers that the model list is not loaded).
func FromConfig(cfg *config.Config, logger *slog.Logger, manager sources.ManagerData) (Options, *sources.Registry, error) {
	d := cfg.Downloads
	client := &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: d.PerHostConnections,
		ResponseHeaderTimeout: d.StallTimeout.Duration, IdleConnTimeout: 90 * time.Second,
		// Offsets must refer to the identity representation; never let the transport gunzip.
		DisableCompression: true,
	}}
	opts := Options{
		ModelsDir:     cfg.Paths.ModelsDir,
		ExtraFolders:  d.ExtraFolders,
		MaxAttempts:   d.MaxAttempts,
		MaxConcurrent: d.MaxConcurrent,
		Logger:        logger,
		Download: download.Options{
			Client:             client,
			Hosts:              download.NewHosts(d.PerHostConnections, d.BreakerThreshold, d.BreakerCooldown.Duration, nil),
			MaxConnections:     d.MaxConnections,
			ParallelMinSize:    int64(d.ParallelMinSize),
			CheckpointInterval: d.CheckpointInterval.Duration,
			CheckpointBytes:    int64(d.CheckpointSize),
			StallTimeout:       d.StallTimeout.Duration,
			MaxRestarts:        d.MaxRestarts,
			DiskMarginBytes:    int64(d.DiskMargin),
			DiskMarginPercent:  d.DiskMarginPercent,
			NoReserve:          !d.Preallocate,
			UserAgent:          d.UserAgent,
		},
	}
	reg := sources.NewRegistry()
	hfToken, err := cfg.Sources.HuggingFace.Token()
	if err != nil {
		return Options{}, nil, fmt.Errorf("sources.huggingface: %w", err)
	}
	civToken, err := cfg.Sources.CivitAI.Token()
	if err != nil {
		return Options{}, nil, fmt.Errorf("sources.civitai: %w", err)
	}
	byID := map[string]sources.Source{
		"huggingface":     &sources.HuggingFace{Endpoint: cfg.Sources.HuggingFace.Endpoint, Token: hfToken, Client: client},
		"civitai":         &sources.CivitAI{Endpoint: cfg.Sources.CivitAI.Endpoint, Token: civToken, Client: client},
		"comfyui-manager": &sources.Manager{Data: manager},
		"direct":          sources.Direct{},
	}
	for _, id := range cfg.Sources.Order {
		if s, ok := byID[id]; ok {
			reg.Register(s)
		}
	}
	if hfToken != "" {
		if h := hostname(cfg.Sources.HuggingFace.Endpoint); h != "" {
			reg.SetCredential(h, sources.Credential{Header: "Authorization", Value: "Bearer " + hfToken})
		}
	}
	if civToken != "" {
		if h := hostname(cfg.Sources.CivitAI.Endpoint); h != "" {
			reg.SetCredential(h, sources.Credential{Header: "Authorization", Value: "Bearer " + civToken})
		}
	}
	return opts, reg, nil
}
