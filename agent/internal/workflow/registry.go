package workflow

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// Parser is one link of the parser chain: it looks at a decoded, flattened workflow and adds to
// out what it recognises (models, node-pack claims, tags, warnings). Parsers must not remove what
// earlier ones found. Extension parsers (WASM guests, go-plugin plugins) implement it through an
// adapter that sends Input.Doc.Raw as extension.WorkflowInput and maps the answer to Findings.
type Parser interface {
	// ID is a namespaced identifier, e.g. "core.loaders" or "wasm.mypack".
	ID() string
	Parse(ctx context.Context, in *Input, out *Findings) error
}

// Input is what each parser receives.
type Input struct {
	Doc   *Document
	Graph *Graph
	// Manager is the Manager data index; never nil (it may be empty).
	Manager *ManagerIndex
}

// Registry is the ordered parser chain: the built-in parsers, then registered extension
// parsers, then the built-in fallback (so that extensions claim their files before the
// file-extension heuristic guesses a folder for them).
type Registry struct {
	mu       sync.RWMutex
	tables   builtinTables
	primary  []Parser
	ext      []Parser
	fallback []Parser
}

// NewRegistry returns a chain with the built-in parsers.
func NewRegistry() *Registry {
	t := loadBuiltinTables()
	return &Registry{
		tables: t,
		primary: []Parser{
			&loaderParser{t: t},
			metadataParser{},
			embeddingParser{},
			urlParser{t: t},
		},
		fallback: []Parser{&extensionParser{t: t}},
	}
}

// Register appends an extension parser; ids must be unique.
func (r *Registry) Register(p Parser) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := p.ID()
	if id == "" || !strings.Contains(id, ".") {
		return fmt.Errorf("register parser: id %q must be namespaced like \"wasm.name\"", id)
	}
	for _, q := range r.all() {
		if q.ID() == id {
			return fmt.Errorf("register parser: id %q already registered", id)
		}
	}
	r.ext = append(r.ext, p)
	return nil
}

// Unregister removes an extension parser (e.g. a plugin that was unloaded).
func (r *Registry) Unregister(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, p := range r.ext {
		if p.ID() == id {
			r.ext = append(r.ext[:i:i], r.ext[i+1:]...)
			return
		}
	}
}

// IDs lists the chain in order.
func (r *Registry) IDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var ids []string
	for _, p := range r.all() {
		ids = append(ids, p.ID())
	}
	return ids
}

func (r *Registry) all() []Parser {
	out := make([]Parser, 0, len(r.primary)+len(r.ext)+len(r.fallback))
	out = append(out, r.primary...)
	out = append(out, r.ext...)
	return append(out, r.fallback...)
}

// Run runs the chain. A failing extension parser degrades to a warning; the core keeps going.
func (r *Registry) Run(ctx context.Context, in *Input) *Findings {
	r.mu.RLock()
	chain := r.all()
	r.mu.RUnlock()
	out := &Findings{}
	for _, p := range chain {
		if err := ctx.Err(); err != nil {
			out.Warn("analysis cancelled: " + err.Error())
			break
		}
		if err := runParser(ctx, p, in, out); err != nil {
			out.Warn(fmt.Sprintf("parser %s failed: %v", p.ID(), err))
		}
	}
	return out
}

// runParser isolates a parser's panic so one bad extension cannot take the request down.
func runParser(ctx context.Context, p Parser, in *Input, out *Findings) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return p.Parse(ctx, in, out)
}
