package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/comfylauncher/launcher/agent/internal/comfy"
	"github.com/comfylauncher/launcher/agent/internal/extension"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// Parser is a built-in link of the parser chain: it looks at a decoded, flattened workflow and
// adds to out what it recognises (models, node-pack claims, tags, warnings). Parsers must not
// remove what earlier ones found. Extension parsers (WASM, go-plugin) implement
// sdk.WorkflowParser instead; the chain sends them an sdk.ParseRequest and merges the answer.
type Parser interface {
	Parse(ctx context.Context, in *Input, out *Findings) error
}

// Input is what each parser receives.
type Input struct {
	Doc   *Document
	Graph *Graph
	// Manager is the Manager data index; never nil (it may be empty).
	Manager *ManagerIndex

	req *sdk.ParseRequest
}

// BuiltinParsers are the ids of the core parsers, in their built-in order (the file-extension
// fallback last, so every other parser claims its files before it guesses a folder).
var BuiltinParsers = []string{"loaders", "metadata", "embeddings", "urls", "fallback"}

// RegisterParsers registers the core parser chain in reg as builtin.<name>.
func RegisterParsers(ctx context.Context, reg *extension.Registry) error {
	t := loadBuiltinTables()
	parsers := map[string]Parser{
		"loaders":    &loaderParser{t: t},
		"metadata":   metadataParser{},
		"embeddings": embeddingParser{},
		"urls":       urlParser{t: t},
		"fallback":   &extensionParser{t: t},
	}
	for _, name := range BuiltinParsers {
		info := extension.Info{ID: extension.ID(extension.TransportBuiltin, name), Version: "1", Transport: extension.TransportBuiltin,
			Capabilities: []sdk.Capability{sdk.CapWorkflowParser}}
		if _, err := reg.Register(ctx, info, parsers[name]); err != nil {
			return fmt.Errorf("register parser %s: %w", name, err)
		}
	}
	return nil
}

// runChain asks every parser of reg in order. A failing parser degrades to a warning naming
// it; the others keep going.
func runChain(ctx context.Context, reg *extension.Registry, in *Input) *Findings {
	out := &Findings{}
	for _, e := range reg.Ordered(sdk.CapWorkflowParser) {
		if err := ctx.Err(); err != nil {
			out.Warn("analysis cancelled: " + err.Error())
			break
		}
		var err error
		switch p := e.Impl().(type) {
		case Parser:
			_, err = extension.Call(ctx, e, func(ctx context.Context) (struct{}, error) { return struct{}{}, p.Parse(ctx, in, out) })
		case sdk.WorkflowParser:
			var res sdk.ParseResult
			res, err = extension.Call(ctx, e, func(ctx context.Context) (sdk.ParseResult, error) { return p.ParseWorkflow(ctx, in.request()) })
			if err == nil {
				merge(e.ID(), in, res, out)
			}
		default:
			err = fmt.Errorf("%T is not a workflow parser", p)
		}
		if err != nil {
			out.Warn(fmt.Sprintf("parser %s failed: %v", e.ID(), err))
		}
	}
	return out
}

// request is the graph as extension parsers see it, built once per analysis.
func (in *Input) request() sdk.ParseRequest {
	if in.req != nil {
		return *in.req
	}
	req := sdk.ParseRequest{Format: in.Graph.Format, Nodes: []sdk.WorkflowNode{}}
	if in.Doc != nil && json.Valid(in.Doc.Raw) {
		req.Raw = in.Doc.Raw
	}
	for _, n := range in.Graph.Nodes {
		if n.Virtual || n.Instance {
			continue
		}
		inputs := map[string]any{}
		maps.Copy(inputs, n.WidgetMap)
		maps.Copy(inputs, n.Inputs)
		maps.Copy(inputs, n.Overrides)
		req.Nodes = append(req.Nodes, sdk.WorkflowNode{ID: n.ID, Type: n.Type, Inputs: inputs, Widgets: n.Widgets, Inactive: n.Inactive})
	}
	in.req = &req
	return req
}

// merge adds an extension parser's answer to out, tagged with the parser's id.
func merge(id string, in *Input, res sdk.ParseResult, out *Findings) {
	nodes := map[string]*Node{}
	for _, n := range in.Graph.Nodes {
		nodes[n.ID] = n
	}
	for _, m := range res.Models {
		ref := ModelRef{Filename: m.Filename, Folder: comfy.CanonicalFolder(m.Folder), NodeType: m.NodeType, NodeID: m.NodeID, Input: m.Input,
			URL: m.URL, SHA256: m.SHA256, Size: m.Size, Source: id}
		if n := nodes[m.NodeID]; n != nil {
			ref.Inactive, ref.InactiveReason = activeFields(n)
		}
		out.AddModel(ref)
	}
	for _, p := range res.Packs {
		out.Packs = append(out.Packs, PackHint{NodeType: p.NodeType, Repo: p.Repo})
	}
	for _, t := range res.Tags {
		out.Tag(t)
	}
	for _, w := range res.Warnings {
		out.Warn(id + ": " + w)
	}
}

// ParseRequestFor is the request extension parsers receive for the workflow raw (launcher ext
// test uses it so an author sees exactly what the agent would send).
func ParseRequestFor(raw []byte, lim Limits) (sdk.ParseRequest, error) {
	doc, g, err := Parse(raw, lim)
	if err != nil {
		return sdk.ParseRequest{}, err
	}
	in := &Input{Doc: doc, Graph: g}
	return in.request(), nil
}
