package app

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/models/sources"
	"github.com/comfylauncher/launcher/agent/internal/settings"
	"github.com/comfylauncher/launcher/agent/internal/settings/settingshttp"
)

// wireSettings serves the user settings the web UI saves (GET /api/settings, get_config,
// update_config, set_config) and hands their credentials to the model sources. Call it after
// wireModels.
func (a *App) wireSettings() error {
	s := settings.New(a.db, settings.Server{
		PortMin:     a.cfg.Ports.Min,
		PortMax:     a.cfg.Ports.Max,
		ProjectsDir: filepath.Join(a.cfg.Paths.DataDir, "projects"),
		ModelsDir:   a.cfg.Paths.ModelsDir,
	}, a.applyUserConfig)
	settingshttp.Routes(a.api.Router, s)
	a.starters = append(a.starters, func(context.Context) error {
		if err := s.Open(); err != nil {
			return err
		}
		if cfg, err := s.UserConfig(); err == nil {
			a.applyUserConfig(cfg)
		}
		return nil
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
