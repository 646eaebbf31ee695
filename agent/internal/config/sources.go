package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
)

// SourcesConfig is the [sources] section: model sources' endpoints and credentials. Tokens
// come from an environment variable or a file, never from launcher.toml itself, and are never
// logged or returned by the API.
type SourcesConfig struct {
	// Order is the order sources are asked: built-ins (huggingface, civitai, comfyui-manager,
	// direct) and extension ids ("wasm.mirror"). Empty means extensions first, then the
	// built-ins in that order; a list is exhaustive.
	Order       []string       `toml:"order"`
	HuggingFace SourceEndpoint `toml:"huggingface"`
	CivitAI     SourceEndpoint `toml:"civitai"`
}

// SourceEndpoint is one hub's API endpoint and where its token is.
type SourceEndpoint struct {
	Endpoint string `toml:"endpoint"`
	// TokenEnv names the environment variable holding the token.
	TokenEnv string `toml:"token_env"`
	// TokenFile, when set, wins over TokenEnv: the token is the file's first line.
	TokenFile string `toml:"token_file"`
}

// Token returns the configured token, "" when none is set.
func (e SourceEndpoint) Token() (string, error) {
	if e.TokenFile != "" {
		data, err := os.ReadFile(e.TokenFile)
		if err != nil {
			return "", fmt.Errorf("read token file: %w", err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		return strings.TrimSpace(line), nil
	}
	if e.TokenEnv != "" {
		return strings.TrimSpace(os.Getenv(e.TokenEnv)), nil
	}
	return "", nil
}

// KnownSources are the built-in source ids.
var KnownSources = []string{"huggingface", "civitai", "comfyui-manager", "direct"}

func (s *SourcesConfig) setDefaults() {
	s.HuggingFace = SourceEndpoint{Endpoint: "https://huggingface.co", TokenEnv: "HF_TOKEN"}
	s.CivitAI = SourceEndpoint{Endpoint: "https://civitai.com", TokenEnv: "CIVITAI_API_TOKEN"}
}

func (s *SourcesConfig) validate() []error {
	var errs []error
	errs = append(errs, validateOrder("sources.order", s.Order, KnownSources)...)
	for _, e := range []struct {
		key string
		ep  SourceEndpoint
	}{{"sources.huggingface", s.HuggingFace}, {"sources.civitai", s.CivitAI}} {
		u, err := url.Parse(e.ep.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s.endpoint %q must be an http(s) URL", e.key, e.ep.Endpoint))
		}
		if e.ep.TokenFile != "" {
			if _, err := os.Stat(e.ep.TokenFile); err != nil {
				errs = append(errs, fmt.Errorf("%s.token_file %q cannot be read: %v (create it with the token on the first line, or remove the key)", e.key, e.ep.TokenFile, err))
			}
		}
	}
	return errs
}
