package extension

import "encoding/json"

// ParseRequest is what a workflow parser receives: the workflow as the user sent it and the
// agent's flattened view of its nodes (subgraphs expanded, links dropped), so a parser need
// not re-implement ComfyUI's formats.
type ParseRequest struct {
	// Format is "ui" (a saved workflow) or "api" (a prompt).
	Format string          `json:"format"`
	Nodes  []WorkflowNode  `json:"nodes"`
	Raw    json.RawMessage `json:"workflow,omitempty"`
	// Options are request options (reserved; empty today).
	Options map[string]string `json:"options,omitempty"`
}

// WorkflowNode is one real node of a workflow (frontend-only nodes are left out).
type WorkflowNode struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// Inputs are the literal input values by name (API format, or UI values the agent could
	// name); Widgets are a UI node's widgets_values in order.
	Inputs  map[string]any `json:"inputs,omitempty"`
	Widgets []any          `json:"widgets,omitempty"`
	// Inactive marks a muted or bypassed node: what it loads is not required.
	Inactive bool `json:"inactive,omitempty"`
}

// ParseResult is what a parser recognised.
type ParseResult struct {
	Models   []ModelRef `json:"models,omitempty"`
	Packs    []PackRef  `json:"packs,omitempty"`
	Tags     []string   `json:"tags,omitempty"`
	Warnings []string   `json:"warnings,omitempty"`
}

// ModelRef is a model file a workflow needs.
type ModelRef struct {
	Filename string `json:"filename"`
	// Folder is the ComfyUI model folder key ("checkpoints", "loras", ...).
	Folder   string `json:"folder"`
	NodeID   string `json:"node_id,omitempty"`
	NodeType string `json:"node_type,omitempty"`
	Input    string `json:"input,omitempty"`
	URL      string `json:"url,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Size     int64  `json:"size,omitempty"`
}

// PackRef claims that a node type comes from a custom-node pack (its git URL).
type PackRef struct {
	NodeType string `json:"node_type"`
	Repo     string `json:"repo"`
}
