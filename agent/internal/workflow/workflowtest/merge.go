// This file builds large, realistic workflows for benchmarks: the UI-format
// workflows of the shared corpus merged into one graph, repeated until it reaches a size.

package workflowtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Merged returns one UI workflow of at least minBytes: the nodes and links of every UI-format
// workflow in dir (the corpus' workflows folder), copied again and again with node and link ids
// shifted so they stay unique; subgraph definitions are kept once each. Nothing is invented:
// every node, widget value and link is one a real workflow has.
func Merged(dir string, minBytes int) ([]byte, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("list corpus: %w", err)
	}
	sort.Strings(files)
	var srcs []uiWorkflow
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read corpus: %w", err)
		}
		var w uiWorkflow
		if json.Unmarshal(raw, &w) != nil || len(w.Nodes) == 0 {
			continue // API-format prompts and launcher files have no UI graph to merge
		}
		srcs = append(srcs, w)
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("no UI-format workflow in %s", dir)
	}
	out := mergedWorkflow{Version: 0.4}
	defs := map[string]bool{}
	size, nodeBase, linkBase := 0, 0, 0
	for size < minBytes {
		for _, w := range srcs {
			maxNode, maxLink := 0, 0
			for _, raw := range w.Nodes {
				n, id, err := shiftNode(raw, nodeBase, linkBase)
				if err != nil {
					return nil, err
				}
				maxNode = max(maxNode, id)
				out.Nodes = append(out.Nodes, n)
				size += len(n)
			}
			for _, raw := range w.Links {
				l, id, err := shiftLink(raw, nodeBase, linkBase)
				if err != nil {
					return nil, err
				}
				maxLink = max(maxLink, id)
				out.Links = append(out.Links, l)
				size += len(l)
			}
			for _, sg := range w.Definitions.Subgraphs {
				var head struct {
					ID string `json:"id"`
				}
				if json.Unmarshal(sg, &head) == nil && !defs[head.ID] {
					defs[head.ID] = true
					out.Definitions.Subgraphs = append(out.Definitions.Subgraphs, sg)
					size += len(sg)
				}
			}
			nodeBase += maxNode + 1
			linkBase += maxLink + 1
		}
	}
	out.LastNodeID, out.LastLinkID = nodeBase, linkBase
	return json.Marshal(out)
}

// ImportBody wraps workflow in a POST /api/import_project body that skips model validation
// (the merged models are not in any store).
func ImportBody(name string, workflow []byte) ([]byte, error) {
	return json.Marshal(map[string]any{"name": name, "import_json": json.RawMessage(workflow), "skipping_model_validation": true})
}

type uiWorkflow struct {
	Nodes       []json.RawMessage `json:"nodes"`
	Links       []json.RawMessage `json:"links"`
	Definitions struct {
		Subgraphs []json.RawMessage `json:"subgraphs"`
	} `json:"definitions"`
}

type mergedWorkflow struct {
	LastNodeID  int               `json:"last_node_id"`
	LastLinkID  int               `json:"last_link_id"`
	Nodes       []json.RawMessage `json:"nodes"`
	Links       []json.RawMessage `json:"links"`
	Definitions struct {
		Subgraphs []json.RawMessage `json:"subgraphs,omitempty"`
	} `json:"definitions"`
	Version float64 `json:"version"`
}

// shiftNode adds nodeBase to the node's id and linkBase to the link ids of its inputs and
// outputs, keeping every other field as it is.
func shiftNode(raw json.RawMessage, nodeBase, linkBase int) (json.RawMessage, int, error) {
	var n map[string]any
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, 0, fmt.Errorf("corpus node: %w", err)
	}
	id, _ := n["id"].(float64)
	n["id"] = int(id) + nodeBase
	for _, in := range asList(n["inputs"]) {
		if m, ok := in.(map[string]any); ok {
			if l, ok := m["link"].(float64); ok {
				m["link"] = int(l) + linkBase
			}
		}
	}
	for _, o := range asList(n["outputs"]) {
		if m, ok := o.(map[string]any); ok {
			links := asList(m["links"])
			for i, l := range links {
				if f, ok := l.(float64); ok {
					links[i] = int(f) + linkBase
				}
			}
		}
	}
	b, err := json.Marshal(n)
	return b, int(id), err
}

// shiftLink renumbers a link [id, from node, from slot, to node, to slot, type].
func shiftLink(raw json.RawMessage, nodeBase, linkBase int) (json.RawMessage, int, error) {
	var l []any
	if err := json.Unmarshal(raw, &l); err != nil || len(l) < 4 {
		return raw, 0, nil // the object form is kept as it is
	}
	id, _ := l[0].(float64)
	l[0] = int(id) + linkBase
	for _, i := range []int{1, 3} {
		if f, ok := l[i].(float64); ok {
			l[i] = int(f) + nodeBase
		}
	}
	b, err := json.Marshal(l)
	return b, int(id), err
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
