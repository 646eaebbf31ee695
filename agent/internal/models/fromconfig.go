package models

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/models/sources"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// FromConfig builds the store's Options and its model sources from launcher.toml: the
// [downloads] limits and the [sources] endpoints and tokens (read from env or file here, kept
// in memory only). The comfyui-manager source reads manager, the agent's one Manager data
// component (nil: the source answers that the model list is not loaded). The built-in sources
// are registered in reg (a private registry when nil) as builtin.<id>, and [sources] order
// becomes reg's source order.
func FromConfig(cfg *config.Config, logger *slog.Logger, manager sources.ManagerData, reg *extension.Registry) (Options, *sources.Resolver, error) {
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
			KeepCached:         d.KeepCached,
			UserAgent:          d.UserAgent,
		},
	}
	if reg == nil {
		reg = extension.New(extension.Options{Logger: logger})
	}
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
	for _, id := range config.KnownSources {
		if err := sources.Register(context.Background(), reg, byID[id]); err != nil {
			return Options{}, nil, err
		}
	}
	if cfg.Sources.Order != nil {
		reg.SetOrder(sdk.CapModelSource, cfg.Sources.Order)
	}
	res := sources.NewResolver(reg)
	if hfToken != "" {
		if h := hostname(cfg.Sources.HuggingFace.Endpoint); h != "" {
			res.SetCredential(h, sources.Credential{Header: "Authorization", Value: "Bearer " + hfToken})
		}
	}
	if civToken != "" {
		if h := hostname(cfg.Sources.CivitAI.Endpoint); h != "" {
			res.SetCredential(h, sources.Credential{Header: "Authorization", Value: "Bearer " + civToken})
		}
	}
	return opts, res, nil
}
