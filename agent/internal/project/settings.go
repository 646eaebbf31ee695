package project

import (
	"errors"
	"net/http"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/store"
	"github.com/julienschmidt/httprouter"
)

// configKey is the user config of the original launcher (config.json) in the settings bucket.
const configKey = "config"

// maskPrefix marks a masked secret. A value posted back unchanged keeps the stored secret, so
// a UI that reads the config and saves it again does not overwrite the key with its mask.
const maskPrefix = "****"

func defaultUserConfig() map[string]any {
	return map[string]any{"credentials": map[string]any{"civitai": map[string]any{"apikey": ""}}}
}

// UserConfig returns the stored user config with secrets in clear (for the model store's
// credentials); the API never returns it unmasked.
func (m *Manager) UserConfig() (map[string]any, error) {
	cfg := map[string]any{}
	err := m.deps.Store.Get(store.BucketSettings, configKey, &cfg)
	if errors.Is(err, store.ErrNotFound) {
		return defaultUserConfig(), nil
	}
	if err != nil {
		return nil, err
	}
	return cfg, nil
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

func (m *Manager) handleGetConfig(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	cfg, err := m.UserConfig()
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, mask(cfg, false))
}

func (m *Manager) decodeConfig(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	var in map[string]any
	if err := api.DecodeJSON(w, r, &in, 1<<20); err != nil {
		return nil, err
	}
	if in == nil {
		return nil, apierr.New(apierr.Invalid, "ValidationError", "config must be a JSON object",
			`Send e.g. {"credentials": {"civitai": {"apikey": "..."}}}`)
	}
	return in, nil
}

// handleUpdateConfig deep-merges the body into the stored config.
func (m *Manager) handleUpdateConfig(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	m.writeConfig(w, r, func(old, in map[string]any) map[string]any {
		merge(old, in)
		return old
	})
}

// handleSetConfig replaces the stored config; masked secrets sent back unchanged keep their
// stored value.
func (m *Manager) handleSetConfig(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	m.writeConfig(w, r, func(old, in map[string]any) map[string]any {
		keepMasked(in, old)
		return in
	})
}

// writeConfig stores apply(stored, body) under the config lock.
func (m *Manager) writeConfig(w http.ResponseWriter, r *http.Request, apply func(old, in map[string]any) map[string]any) {
	in, err := m.decodeConfig(w, r)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	m.configMu.Lock()
	defer m.configMu.Unlock()
	old, err := m.UserConfig()
	var cfg map[string]any
	if err == nil {
		cfg = apply(old, in)
		err = m.deps.Store.Put(store.BucketSettings, configKey, cfg)
	}
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	if m.deps.OnUserConfig != nil {
		m.deps.OnUserConfig(cfg)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true})
}
