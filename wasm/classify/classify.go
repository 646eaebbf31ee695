// Package classify is a recovery strategy, shipped as a WASM module (./module), for failures the
// agent's built-in classifier calls "unknown": pip build and resolution errors, git failures
// (private or wrong repository, TLS interception, dropped connections), DNS failures, ComfyUI
// start failures, and a gated HuggingFace repository's 401/403 (which the agent calls "auth"
// without saying why). For each it gives the right class, whether to retry, and a suggestion the
// user sees on the operation. Anything else is "not mine", so the next strategy decides.
//
// Config ([[extensions]].config), optional: extra rules tried before the built-in ones.
//
//	[[extensions.config.rules]]
//	match = "proxy authentication required"   # case-insensitive substring of the error
//	class = "auth"
//	retry = false
//	suggestion = "Set the proxy credentials in HTTPS_PROXY"
//	classes = ["unknown", "auth"]              # the agent's classes it refines (default: unknown)
//	functions = ["install_project"]            # operation types it applies to (default: all)
package classify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// Rule maps an error text to a decision.
type Rule struct {
	// Match holds substrings that must all appear (case-insensitive); a configured rule has one,
	// MatchText.
	Match     []string `json:"-"`
	MatchText string   `json:"match"`
	// Classes are the agent's classes the rule refines; empty means only "unknown".
	Classes []string `json:"classes"`
	// Functions limits the rule to these operation types ("download_model", ...); empty: all.
	Functions  []string `json:"functions"`
	Class      string   `json:"class"`
	Retry      bool     `json:"retry"`
	Suggestion string   `json:"suggestion"`
}

const gatedHF = "The model repository is gated: on HuggingFace, accept its terms on the model page with the account whose token the agent uses ([sources.huggingface] token_env or token_file), then retry"

// builtinRules are tried after configured ones; the first match wins.
var builtinRules = []Rule{
	// pip
	{Match: []string{"no matching distribution found"}, Class: "not_found",
		Suggestion: "pip found no release of a required package for this Python: check the package name and version pin, or point comfyui.pip_args at your index (--index-url / --extra-index-url)"},
	{Match: []string{"could not find a version that satisfies"}, Class: "not_found",
		Suggestion: "No release of the package matches the requirement: relax the version pin or use an index that has it (comfyui.pip_args)"},
	{Match: []string{"resolutionimpossible"}, Class: "not_found",
		Suggestion: "Two requirements conflict: pin compatible versions in the custom node's requirements or install the packs in separate projects"},
	{Match: []string{"failed building wheel"}, Class: "not_found",
		Suggestion: "A package has no wheel for this platform and failed to build: install the build tools (build-essential, python3-dev) or use a Python version with prebuilt wheels"},
	// DNS (git, pip, curl)
	{Match: []string{"could not resolve host"}, Class: "network", Retry: true,
		Suggestion: "DNS lookup failed: check the node's resolver and proxy settings (HTTPS_PROXY), or use a reachable mirror"},
	{Match: []string{"temporary failure in name resolution"}, Class: "network", Retry: true,
		Suggestion: "DNS lookup failed: check the node's resolver and proxy settings (HTTPS_PROXY), or use a reachable mirror"},
	// git
	{Match: []string{"could not read username"}, Class: "auth",
		Suggestion: "The git repository is private: use a URL with credentials the node has (a deploy token) or a public mirror"},
	{Match: []string{"does not appear to be a git repository"}, Class: "not_found",
		Suggestion: "The custom node's git URL is wrong: check it in the launcher JSON or the Manager list"},
	{Match: []string{"unable to get local issuer certificate"}, Class: "auth",
		Suggestion: "TLS verification failed: install your proxy's CA certificate on the node (GIT_SSL_CAINFO / SSL_CERT_FILE)"},
	{Match: []string{"the remote end hung up unexpectedly"}, Class: "network", Retry: true,
		Suggestion: "The git server dropped the connection: retrying usually works; a proxy with a small body limit can also cause it"},
	// HuggingFace gated repositories (the agent already calls a 401/403 auth; this says why).
	{Match: []string{"gated repo"}, Classes: []string{"unknown", "auth"}, Class: "auth", Suggestion: gatedHF},
	{Match: []string{"huggingface", "401"}, Classes: []string{"unknown", "auth"}, Class: "auth",
		Suggestion: "The HuggingFace repository needs a token: set HF_TOKEN (or [sources.huggingface] token_file) to a token with read access"},
	{Match: []string{"huggingface", "403"}, Classes: []string{"unknown", "auth"}, Class: "auth", Suggestion: gatedHF},
	// A mirror or proxy in front of the Hub answers with its own host name.
	{Match: []string{"403 forbidden"}, Classes: []string{"unknown", "auth"}, Functions: []string{"download_model"}, Class: "auth", Suggestion: gatedHF},
	// ComfyUI start
	{Match: []string{"modulenotfounderror"}, Class: "not_found",
		Suggestion: "ComfyUI or a custom node imports a Python module that is not installed: retry the install so the pack's requirements are installed, or add the package to the project"},
	{Match: []string{"address already in use"}, Class: "resource", Retry: true,
		Suggestion: "The port is taken by another process: stop it, or let the agent lease another port"},
	{Match: []string{"torch not compiled with cuda enabled"}, Class: "resource",
		Suggestion: "The venv has a CPU-only torch: reinstall torch with CUDA (pip_args --extra-index-url https://download.pytorch.org/whl/cu124) or run the project with gpu = \"none\""},
}

// Config is the module's config table.
type Config struct {
	Rules []Rule `json:"rules"`
}

// Strategy classifies failures by their text.
type Strategy struct{ rules []Rule }

var _ sdk.RecoveryStrategy = (*Strategy)(nil)

var classes = map[string]bool{"network": true, "timeout": true, "resource": true, "permission": true, "not_found": true, "auth": true, "integrity": true, "cancelled": true, "unknown": true}

// Configure decodes the extra rules.
func (s *Strategy) Configure(raw json.RawMessage) error {
	var c Config
	if err := sdk.DecodeConfig(raw, &c); err != nil {
		return err
	}
	s.rules = nil
	for i, r := range c.Rules {
		if strings.TrimSpace(r.MatchText) == "" || !classes[r.Class] {
			return &sdk.Error{Code: "bad_config", Message: fmt.Sprintf("config.rules[%d] needs match and a class (network, timeout, resource, permission, not_found, auth, integrity)", i)}
		}
		r.Match = []string{strings.ToLower(r.MatchText)}
		for _, c := range r.Classes {
			if !classes[c] {
				return &sdk.Error{Code: "bad_config", Message: fmt.Sprintf("config.rules[%d].classes has unknown class %q", i, c)}
			}
		}
		s.rules = append(s.rules, r)
	}
	s.rules = append(s.rules, builtinRules...)
	return nil
}

// Decide claims failures whose text a rule matches, among the classes the rule refines.
func (s *Strategy) Decide(_ context.Context, in sdk.StrategyInput) (sdk.StrategyDecision, error) {
	class := in.Class
	if class == "" {
		class = "unknown"
	}
	rules := s.rules
	if rules == nil {
		rules = builtinRules
	}
	msg := strings.ToLower(in.Message)
	for _, r := range rules {
		if applies(r, class, in.Function) && matches(msg, r.Match) {
			return sdk.StrategyDecision{Retry: r.Retry, DelaySeconds: -1, Class: r.Class, Suggestion: r.Suggestion}, nil
		}
	}
	return sdk.StrategyDecision{NotMine: true}, nil
}

func applies(r Rule, class, function string) bool {
	if len(r.Functions) > 0 && !slices.Contains(r.Functions, function) {
		return false
	}
	if len(r.Classes) == 0 {
		return class == "unknown"
	}
	return slices.Contains(r.Classes, class)
}

func matches(msg string, needles []string) bool {
	for _, n := range needles {
		if !strings.Contains(msg, n) {
			return false
		}
	}
	return len(needles) > 0
}
