// Command classify is a WASM recovery strategy for failures the agent's built-in classifier
// calls "unknown": pip resolution errors, DNS failures of git and pip, a gated HuggingFace
// repository's 401/403, and common ComfyUI start failures. For each it gives the right class,
// whether to retry, and a suggestion the user sees on the operation. Anything else, and any
// failure the agent already classified, is "not mine".
//
// Config ([[extensions]].config), optional: extra rules tried before the built-in ones.
//
//	[[extensions.config.rules]]
//	match = "proxy authentication required"   # case-insensitive substring of the error
//	class = "auth"
//	retry = false
//	suggestion = "Set the proxy credentials in HTTPS_PROXY"
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// Rule maps an error text to a decision.
type Rule struct {
	// Match holds substrings that must all appear (case-insensitive); the config gives one.
	Match      []string `json:"-"`
	MatchText  string   `json:"match"`
	Class      string   `json:"class"`
	Retry      bool     `json:"retry"`
	Suggestion string   `json:"suggestion"`
}

// builtinRules are tried after configured ones; the first match wins.
var builtinRules = []Rule{
	{Match: []string{"no matching distribution found"}, Class: "not_found",
		Suggestion: "pip found no release of a required package for this Python: check the package name and version pin, or point comfyui.pip_args at your index (--index-url / --extra-index-url)"},
	{Match: []string{"could not find a version that satisfies"}, Class: "not_found",
		Suggestion: "No release of the package matches the requirement: relax the version pin or use an index that has it (comfyui.pip_args)"},
	{Match: []string{"could not resolve host"}, Class: "network", Retry: true,
		Suggestion: "DNS lookup failed: check the node's resolver and proxy settings (HTTPS_PROXY), or use a reachable mirror"},
	{Match: []string{"temporary failure in name resolution"}, Class: "network", Retry: true,
		Suggestion: "DNS lookup failed: check the node's resolver and proxy settings (HTTPS_PROXY), or use a reachable mirror"},
	{Match: []string{"huggingface", "401"}, Class: "auth",
		Suggestion: "The HuggingFace repository needs a token: set HF_TOKEN (or [sources.huggingface] token_file) to a token with read access"},
	{Match: []string{"huggingface", "403"}, Class: "auth",
		Suggestion: "The HuggingFace repository is gated: accept its terms on huggingface.co with the account whose token the agent uses, then retry"},
	{Match: []string{"gated repo"}, Class: "auth",
		Suggestion: "The HuggingFace repository is gated: accept its terms on huggingface.co with the account whose token the agent uses, then retry"},
	{Match: []string{"modulenotfounderror"}, Class: "not_found",
		Suggestion: "ComfyUI or a custom node imports a Python module that is not installed: install the pack's requirements (retry the install) or add the package to the project"},
	{Match: []string{"address already in use"}, Class: "resource", Retry: true,
		Suggestion: "The port is taken by another process: stop it, or let the agent lease another port"},
	{Match: []string{"torch.cuda.outofmemoryerror"}, Class: "resource", Retry: true,
		Suggestion: "The GPU ran out of memory: stop other projects on this GPU or start ComfyUI with --lowvram"},
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
		s.rules = append(s.rules, r)
	}
	s.rules = append(s.rules, builtinRules...)
	return nil
}

// Decide claims unknown failures whose text a rule matches.
func (s *Strategy) Decide(_ context.Context, in sdk.StrategyInput) (sdk.StrategyDecision, error) {
	if in.Class != "" && in.Class != "unknown" {
		return sdk.StrategyDecision{NotMine: true}, nil
	}
	rules := s.rules
	if rules == nil {
		rules = builtinRules
	}
	msg := strings.ToLower(in.Message)
	for _, r := range rules {
		if matches(msg, r.Match) {
			return sdk.StrategyDecision{Retry: r.Retry, DelaySeconds: -1, Class: r.Class, Suggestion: r.Suggestion}, nil
		}
	}
	return sdk.StrategyDecision{NotMine: true}, nil
}

func matches(msg string, needles []string) bool {
	for _, n := range needles {
		if !strings.Contains(msg, n) {
			return false
		}
	}
	return len(needles) > 0
}

func main() {}
