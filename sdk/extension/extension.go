// Package extension holds what the agent's three extension capabilities (workflow parser, model
// source, recovery strategy) exchange: the Go interfaces an extension implements and the JSON
// request and response types that cross a transport (built-in, WASM guest, go-plugin plugin).
// Every transport speaks these types, so this package imports nothing from the agent.
//
// An extension implements one or more of WorkflowParser, ModelSource and RecoveryStrategy and
// declares them in its Manifest. Each answer can say "not mine" (an empty ParseResult, a
// ResolveResponse with no candidates, a StrategyDecision with NotMine set) so the agent asks
// the next extension in order.
package extension

import (
	"context"
	"encoding/json"
	"fmt"
)

// Capability names one extension point.
type Capability string

// The three capabilities.
const (
	CapWorkflowParser   Capability = "workflow_parser"
	CapModelSource      Capability = "model_source"
	CapRecoveryStrategy Capability = "recovery_strategy"
)

// Capabilities lists every capability in a fixed order.
var Capabilities = []Capability{CapWorkflowParser, CapModelSource, CapRecoveryStrategy}

// Valid reports whether c is one of the known capabilities.
func (c Capability) Valid() bool {
	for _, k := range Capabilities {
		if c == k {
			return true
		}
	}
	return false
}

// WorkflowParser adds what it recognises in a workflow: models, node packs, tags, warnings.
// It must not repeat what it does not understand; an empty result means "not mine".
type WorkflowParser interface {
	ParseWorkflow(ctx context.Context, req ParseRequest) (ParseResult, error)
}

// ModelSource turns a model reference or a needed model into download candidates. No
// candidates means "not mine": the next source is asked.
type ModelSource interface {
	ResolveModel(ctx context.Context, req ResolveRequest) (ResolveResponse, error)
}

// RecoveryStrategy decides what happens after a failed attempt of an operation. A decision
// with NotMine set passes the failure to the next strategy.
type RecoveryStrategy interface {
	Decide(ctx context.Context, in StrategyInput) (StrategyDecision, error)
}

// Manifest is what an extension says about itself when it starts (WASM: the output of
// cmfy_init; go-plugin: the info call).
type Manifest struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// ABIMinor is the additive ABI revision the extension was built against.
	ABIMinor     int          `json:"abi_minor"`
	Capabilities []Capability `json:"capabilities"`
}

// Has reports whether m declares c.
func (m Manifest) Has(c Capability) bool {
	for _, x := range m.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}

// InitRequest is what the agent hands an extension when it starts.
type InitRequest struct {
	HostVersion string `json:"host_version"`
	// Config is the extension's `config` table from launcher.toml ([[extensions]]), as JSON.
	Config json.RawMessage `json:"config,omitempty"`
}

// Error is an error an extension returns on purpose (status 1 over WASM). Retryable says
// whether asking again later may succeed.
type Error struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable,omitempty"`
}

// Error implements error.
func (e *Error) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// ModelQuery asks a model source for download candidates of one model file.
type ModelQuery struct {
	// Name is the file name as a workflow refers to it, possibly with subfolders ("sdxl/a.safetensors").
	Name string `json:"name"`
	// Folder is the ComfyUI model folder key ("checkpoints", "loras", ...), empty when unknown.
	Folder string `json:"folder,omitempty"`
	// URL is a download URL the workflow itself carries, if any.
	URL string `json:"url,omitempty"`
	// SHA256 is the expected hash, lower-case hex, if known.
	SHA256 string `json:"sha256,omitempty"`
	// NodeType is the workflow node that loads the model.
	NodeType string `json:"node_type,omitempty"`
}

// ModelCandidate is one place a model can be downloaded from.
type ModelCandidate struct {
	Source   string `json:"source"` // id of the source that produced it, e.g. "huggingface"
	URL      string `json:"url"`
	Filename string `json:"filename"`
	Folder   string `json:"folder,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Size     int64  `json:"size,omitempty"`
	// Reference is the source's own reference, e.g. "hf:org/repo/file.safetensors@main".
	Reference string `json:"reference,omitempty"`
	// Headers the download needs; never returned by the API (the agent adds credentials itself).
	Headers map[string]string `json:"-"`
	// Confidence in [0,1]: 1 for an exact hash match, lower for a name match.
	Confidence float64 `json:"confidence,omitempty"`
}

// StrategyInput describes a failed attempt to a recovery strategy.
type StrategyInput struct {
	// Class is the agent's own classification ("network", "auth", ..., "unknown").
	Class    string  `json:"class"`
	Message  string  `json:"message"`
	ExitCode int     `json:"exit_code,omitempty"`
	Attempt  int     `json:"attempt"`
	Elapsed  float64 `json:"elapsed_seconds"`
	Function string  `json:"function_name,omitempty"`
}

// StrategyDecision is a recovery strategy's answer.
type StrategyDecision struct {
	// NotMine passes the failure to the next strategy; the other fields are ignored.
	NotMine bool `json:"not_mine,omitempty"`
	Retry   bool `json:"retry"`
	// DelaySeconds before the next attempt; negative means "use the default backoff".
	DelaySeconds float64 `json:"delay_seconds"`
	// Class, when set, reclassifies the error.
	Class string `json:"class,omitempty"`
	// Suggestion tells the user how to fix the failure; shown first among the operation's
	// suggestions.
	Suggestion string `json:"suggestion,omitempty"`
}
