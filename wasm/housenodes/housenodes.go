// Package housenodes is a workflow parser, shipped as a WASM module (./module), for a company's
// own custom loader nodes: its config holds a loader table (node type, the input or widget that
// names the file, the model folder), so workflows using those nodes yield their required models
// in preview, validate and import like core loaders do. A loader may also name the custom-node
// pack the type comes from.
//
// Config ([[extensions]].config):
//
//	[[extensions.config.loaders]]
//	node_type = "AcmeCheckpointLoader"
//	input = "ckpt_name"      # the API input name (also looked up among named UI widgets)
//	widget = 0               # index in a UI node's widgets_values (optional)
//	folder = "checkpoints"
//	pack = "https://git.acme.internal/comfy/acme-nodes"   # optional
package housenodes

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// Loader is one row of the loader table.
type Loader struct {
	NodeType string `json:"node_type"`
	Input    string `json:"input"`
	Widget   *int   `json:"widget"`
	Folder   string `json:"folder"`
	Pack     string `json:"pack"`
}

// Config is the module's config table.
type Config struct {
	Loaders []Loader `json:"loaders"`
}

// Parser finds the files the configured loader nodes load.
type Parser struct{ byType map[string][]Loader }

var _ sdk.WorkflowParser = (*Parser)(nil)

// Configure decodes and checks the loader table.
func (p *Parser) Configure(raw json.RawMessage) error {
	var c Config
	if err := sdk.DecodeConfig(raw, &c); err != nil {
		return err
	}
	if len(c.Loaders) == 0 {
		return &sdk.Error{Code: "bad_config", Message: "config.loaders is empty: add [[extensions.config.loaders]] rows with node_type, input, folder"}
	}
	p.byType = map[string][]Loader{}
	for i, l := range c.Loaders {
		if l.NodeType == "" || l.Folder == "" || (l.Input == "" && l.Widget == nil) {
			return &sdk.Error{Code: "bad_config", Message: fmt.Sprintf("config.loaders[%d] needs node_type, folder and input or widget", i)}
		}
		p.byType[l.NodeType] = append(p.byType[l.NodeType], l)
	}
	return nil
}

// ParseWorkflow reports the models configured loader nodes name, and their packs.
func (p *Parser) ParseWorkflow(_ context.Context, req sdk.ParseRequest) (sdk.ParseResult, error) {
	var out sdk.ParseResult
	packs := map[string]bool{}
	for _, n := range req.Nodes {
		for _, l := range p.byType[n.Type] {
			if l.Pack != "" && !packs[n.Type] {
				packs[n.Type] = true
				out.Packs = append(out.Packs, sdk.PackRef{NodeType: n.Type, Repo: l.Pack})
			}
			name, ok := value(n, l)
			if !ok {
				out.Warnings = append(out.Warnings, fmt.Sprintf("node %s (%s) has no value for %s", n.ID, n.Type, describe(l)))
				continue
			}
			out.Models = append(out.Models, sdk.ModelRef{Filename: name, Folder: l.Folder, NodeID: n.ID, NodeType: n.Type, Input: l.Input})
		}
	}
	return out, nil
}

func value(n sdk.WorkflowNode, l Loader) (string, bool) {
	if l.Input != "" {
		if s, ok := n.Inputs[l.Input].(string); ok && strings.TrimSpace(s) != "" {
			return s, true
		}
	}
	if l.Widget != nil && *l.Widget >= 0 && *l.Widget < len(n.Widgets) {
		if s, ok := n.Widgets[*l.Widget].(string); ok && strings.TrimSpace(s) != "" {
			return s, true
		}
	}
	return "", false
}

func describe(l Loader) string {
	if l.Input != "" {
		return "input " + l.Input
	}
	return fmt.Sprintf("widget %d", *l.Widget)
}
