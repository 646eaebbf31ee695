// Package extension holds the JSON request and response types of the agent's three extension
// capabilities (workflow parser, model source, recovery strategy). Built-in extensions, WASM
// guests and go-plugin plugins all speak these types, so this package imports nothing from the
// agent.
package extension

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

// WorkflowInput is what a workflow parser receives.
type WorkflowInput struct {
	Workflow []byte            `json:"workflow"`
	Options  map[string]string `json:"options,omitempty"`
}

// StrategyInput describes a failed attempt to a recovery strategy.
type StrategyInput struct {
	Class    string  `json:"class"`
	Message  string  `json:"message"`
	ExitCode int     `json:"exit_code,omitempty"`
	Attempt  int     `json:"attempt"`
	Elapsed  float64 `json:"elapsed_seconds"`
	Function string  `json:"function_name,omitempty"`
}

// StrategyDecision is a recovery strategy's answer.
type StrategyDecision struct {
	Retry bool `json:"retry"`
	// DelaySeconds before the next attempt; negative means "use the default backoff".
	DelaySeconds float64 `json:"delay_seconds"`
	// Class, when set, reclassifies the error.
	Class string `json:"class,omitempty"`
}
