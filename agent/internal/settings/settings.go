// Package settings keeps the user settings the web UI saves (the original launcher's
// config.json: credentials such as the CivitAI API key and the Hugging Face token) in the
// store, and hands them out with every secret masked, with the agent's fixed facts (port
// range, folders) the settings page shows. settingshttp serves them.
package settings

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/comfylauncher/launcher/agent/internal/store"
)

// configKey is the user config of the original launcher (config.json) in the settings bucket.
const configKey = "config"

// maskPrefix marks a masked secret. A value posted back unchanged keeps the stored secret, so
// a UI that reads the config and saves it again does not overwrite the key with its mask.
const maskPrefix = "****"

// Store is the subset of *store.DB the settings use.
type Store interface {
	Get(bucket, key string, v any) error
	Put(bucket, key string, v any) error
	EnsureBuckets(names ...string) error
}

// Server is what GET /api/settings reports about the agent (from launcher.toml).
type Server struct {
	PortMin, PortMax int
	// ProjectsDir holds the projects; ModelsDir is the shared model store.
	ProjectsDir string
	ModelsDir   string
}

// Settings is the stored user config.
type Settings struct {
	store    Store
	server   Server
	onChange func(cfg map[string]any)

	// mu serialises read-modify-write of the user config.
	mu sync.Mutex
}

// New returns the settings kept in st. onChange, when set, sees the stored config (secrets in
// clear) after every update, so the credentials reach the model sources.
func New(st Store, server Server, onChange func(cfg map[string]any)) *Settings {
	return &Settings{store: st, server: server, onChange: onChange}
}

// Server returns the agent's own settings that GET /api/settings reports.
func (s *Settings) Server() Server { return s.server }

// Open makes sure the settings bucket exists (a never-written bucket must answer reads after
// a restart as on the first start).
func (s *Settings) Open() error {
	if err := s.store.EnsureBuckets(store.BucketSettings); err != nil {
		return fmt.Errorf("settings store: %w", err)
	}
	return nil
}

func defaultUserConfig() map[string]any {
	return map[string]any{"credentials": map[string]any{"civitai": map[string]any{"apikey": ""}}}
}

// UserConfig returns the stored user config with secrets in clear (for the model store's
// credentials); the API never returns it unmasked.
func (s *Settings) UserConfig() (map[string]any, error) {
	cfg := map[string]any{}
	err := s.store.Get(store.BucketSettings, configKey, &cfg)
	if errors.Is(err, store.ErrNotFound) {
		return defaultUserConfig(), nil
	}
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// Masked returns the user config as the API shows it: every non-empty secret masked.
func (s *Settings) Masked() (map[string]any, error) {
	cfg, err := s.UserConfig()
	if err != nil {
		return nil, err
	}
	return mask(cfg, false).(map[string]any), nil
}

// Update deep-merges in into the stored config (update_config).
func (s *Settings) Update(in map[string]any) error {
	return s.write(func(old map[string]any) map[string]any {
		merge(old, in)
		return old
	})
}

// Replace replaces the stored config with in (set_config); masked secrets sent back
// unchanged keep their stored value.
func (s *Settings) Replace(in map[string]any) error {
	return s.write(func(old map[string]any) map[string]any {
		keepMasked(in, old)
		return in
	})
}

// write stores apply(stored) under the config lock and tells onChange.
func (s *Settings) write(apply func(old map[string]any) map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.UserConfig()
	if err != nil {
		return err
	}
	cfg := apply(old)
	if err := s.store.Put(store.BucketSettings, configKey, cfg); err != nil {
		return err
	}
	if s.onChange != nil {
		s.onChange(cfg)
	}
	return nil
}

// isSecretKey says whether a config key holds a credential.
func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"apikey", "api_key", "token", "password", "secret"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// mask returns a copy of cfg with every non-empty secret replaced by "****" and its last four
// characters (enough to recognise a key, not to use it).
func mask(v any, secret bool) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = mask(e, secret || isSecretKey(k))
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = mask(e, secret)
		}
		return out
	case string:
		if !secret || x == "" {
			return x
		}
		if len(x) >= 12 {
			return maskPrefix + x[len(x)-4:]
		}
		return maskPrefix
	default:
		return v
	}
}

// merge deep-merges src into dst: objects merge key by key, anything else replaces. A masked
// secret in src keeps dst's value.
func merge(dst, src map[string]any) {
	for k, v := range src {
		if s, ok := v.(string); ok && strings.HasPrefix(s, maskPrefix) {
			if _, had := dst[k]; had {
				continue
			}
		}
		sm, sok := v.(map[string]any)
		dm, dok := dst[k].(map[string]any)
		if sok && dok {
			merge(dm, sm)
			continue
		}
		dst[k] = v
	}
}

// keepMasked restores secrets that src carries as masks from old, for set_config.
func keepMasked(src, old map[string]any) {
	for k, v := range src {
		switch x := v.(type) {
		case string:
			if strings.HasPrefix(x, maskPrefix) {
				if o, ok := old[k]; ok {
					src[k] = o
				}
			}
		case map[string]any:
			if om, ok := old[k].(map[string]any); ok {
				keepMasked(x, om)
			}
		}
	}
}
