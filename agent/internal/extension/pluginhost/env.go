package pluginhost

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
)

// BaseEnv is the part of the agent's environment every plugin gets (go-plugin's SkipHostEnv
// drops the rest): where programs and the home directory are, temporary files, locale and
// time zone, the CA bundle, and the proxy settings a plugin that reaches a private registry
// needs behind a corporate proxy. Credentials are never in it; a plugin gets its own token
// variable by naming it in its config (token_env).
var BaseEnv = []string{
	"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ",
	"SSL_CERT_FILE", "SSL_CERT_DIR",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
}

// envName is what a variable name from a config may look like.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// configEnv returns the variables a plugin's config asks for: the string value of its
// token_env key. Other keys belong to the plugin and are not read here.
func configEnv(config json.RawMessage) ([]string, error) {
	if len(config) == 0 {
		return nil, nil
	}
	var c struct {
		TokenEnv any `json:"token_env"`
	}
	if err := json.Unmarshal(config, &c); err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	switch v := c.TokenEnv.(type) {
	case nil:
		return nil, nil
	case string:
		if v == "" {
			return nil, nil
		}
		if !envName.MatchString(v) {
			return nil, fmt.Errorf("config.token_env %q is not an environment variable name", v)
		}
		return []string{v}, nil
	default:
		return nil, fmt.Errorf("config.token_env must be a string (the name of the variable holding the token)")
	}
}

// environ builds a plugin's whole environment from names: each variable the agent has, as
// the agent has it. lookup is os.LookupEnv outside tests.
func environ(names []string, lookup func(string) (string, bool)) []string {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		if v, ok := lookup(n); ok {
			out = append(out, n+"="+v)
		}
	}
	return out
}
