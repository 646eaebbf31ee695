package workflow

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Node is one node of a flattened workflow graph: root nodes, nodes inside subgraph and legacy
// group-node instances (their ids prefixed "<instance id>:"), or API prompt nodes.
type Node struct {
	ID    string
	Type  string
	Title string
	// Inactive is set when the node, or an instance that encloses it, is muted (mode 2) or
	// bypassed (mode 4); InactiveReason says which.
	Inactive       bool
	InactiveReason string
	// Virtual nodes exist only in the frontend (Note, Reroute, PrimitiveNode, ...).
	Virtual bool
	// Instance marks a subgraph or group-node instance; its contents are separate nodes.
	Instance bool
	// Broken marks an instance whose subgraph definition is missing.
	Broken bool
	// Parent is the id of the enclosing instance, "" at the root.
	Parent string
	// Widgets holds UI widgets_values when they are a list, WidgetMap when they are an object.
	Widgets   []any
	WidgetMap map[string]any
	// Inputs holds the literal inputs of an API node (links are left out).
	Inputs map[string]any
	// Overrides holds widget values by input name that an enclosing subgraph instance supplies.
	Overrides map[string]any
	// CnrID, AuxID and Ver come from the node's properties.
	CnrID, AuxID, Ver string
	// Models is the node's properties.models metadata.
	Models []EmbeddedModel
}

// Value returns the node's value for the input called name, which sits at UI widget index idx
// (negative when unknown): an override from the enclosing instance, the API input, the widget
// object's key, or the widget list entry, in that order.
func (n *Node) Value(name string, idx int) (any, bool) {
	if v, ok := n.Overrides[name]; ok && name != "" {
		return v, true
	}
	if v, ok := n.Inputs[name]; ok && name != "" {
		return v, true
	}
	if v, ok := n.WidgetMap[name]; ok && name != "" {
		return v, true
	}
	if idx >= 0 && idx < len(n.Widgets) {
		return n.Widgets[idx], true
	}
	return nil, false
}

// Strings calls fn for every string value the node holds (widgets, inputs, overrides).
func (n *Node) Strings(fn func(key string, s string)) {
	for i, v := range n.Widgets {
		walkStrings(strconv.Itoa(i), v, fn, 0)
	}
	for _, k := range sortedKeys(n.WidgetMap) {
		walkStrings(k, n.WidgetMap[k], fn, 0)
	}
	for _, k := range sortedKeys(n.Inputs) {
		walkStrings(k, n.Inputs[k], fn, 0)
	}
	for _, k := range sortedKeys(n.Overrides) {
		walkStrings(k, n.Overrides[k], fn, 0)
	}
}

func walkStrings(key string, v any, fn func(string, string), depth int) {
	if depth > 8 {
		return
	}
	switch t := v.(type) {
	case string:
		fn(key, t)
	case []any:
		for _, e := range t {
			walkStrings(key, e, fn, depth+1)
		}
	case map[string]any:
		for _, k := range sortedKeys(t) {
			walkStrings(k, t[k], fn, depth+1)
		}
	}
}

// EmbeddedModel is a models[] entry of a workflow or a node's properties.
type EmbeddedModel struct {
	Name      string `json:"name"`
	URL       string `json:"url,omitempty"`
	Directory string `json:"directory,omitempty"`
	Hash      string `json:"hash,omitempty"`
	HashType  string `json:"hash_type,omitempty"`
}

// Graph is a flattened workflow.
type Graph struct {
	Format   string
	Nodes    []*Node
	Models   []EmbeddedModel
	Warnings []string
}

// virtualTypes never reach the server (comfy-cli _UI_ONLY_NODE_TYPES plus KJNodes' JS nodes).
var virtualTypes = map[string]bool{
	"Note": true, "MarkdownNote": true, "PrimitiveNode": true, "Reroute": true,
	"SetNode": true, "GetNode": true,
}

// renamedTypes are the old names the frontend patches on load (app.ts loadGraphData).
var renamedTypes = map[string]string{
	"T2IAdapterLoader":         "ControlNetLoader",
	"ConditioningAverage ":     "ConditioningAverage",
	"SDV_img2vid_Conditioning": "SVD_img2vid_Conditioning",
	"Load3DAnimation":          "Load3D",
	"Preview3DAnimation":       "Preview3D",
}

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// widgetTypes are subgraph input types that are widgets (their values sit in the instance's
// widgets_values) rather than links.
var widgetTypes = map[string]bool{"INT": true, "FLOAT": true, "STRING": true, "COMBO": true, "BOOLEAN": true}

// BuildGraph flattens a decoded document.
func BuildGraph(doc *Document, lim Limits) (*Graph, error) {
	lim = lim.withDefaults()
	if doc.Format == FormatAPI {
		return buildAPI(doc.Root, lim)
	}
	b := &uiBuilder{lim: lim, g: &Graph{Format: FormatUI}, defs: map[string]map[string]any{}, groups: map[string][]any{}}
	return b.build(doc.Root)
}

func buildAPI(root map[string]any, lim Limits) (*Graph, error) {
	g := &Graph{Format: FormatAPI}
	ids := sortedKeys(root)
	sort.SliceStable(ids, func(i, j int) bool { return idLess(ids[i], ids[j]) })
	if len(ids) > lim.MaxNodes {
		return nil, invalid("workflow has %d nodes, the limit is %d", len(ids), lim.MaxNodes)
	}
	for _, id := range ids {
		obj, _ := root[id].(map[string]any)
		ct, _ := obj["class_type"].(string)
		n := &Node{ID: id, Type: ct, Inputs: map[string]any{}}
		if meta, ok := obj["_meta"].(map[string]any); ok {
			n.Title, _ = meta["title"].(string)
		}
		if ins, ok := obj["inputs"].(map[string]any); ok {
			for k, v := range ins {
				if isLink(v) {
					continue
				}
				n.Inputs[k] = v
			}
		} else if ins, has := obj["inputs"]; has && ins != nil {
			return nil, invalid("node %q (%s): \"inputs\" must be an object, got %s", id, ct, jsonKind(ins))
		}
		finishNode(n)
		g.Nodes = append(g.Nodes, n)
	}
	return g, nil
}

func isLink(v any) bool {
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return false
	}
	_, s := a[0].(string)
	_, f := a[1].(float64)
	return s && f
}

// idLess orders ids like "3" < "10" < "10:2".
func idLess(a, b string) bool {
	pa, pb := strings.Split(a, ":"), strings.Split(b, ":")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] == pb[i] {
			continue
		}
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		if ea == nil && eb == nil {
			return na < nb
		}
		return pa[i] < pb[i]
	}
	return len(pa) < len(pb)
}

func finishNode(n *Node) {
	if to, ok := renamedTypes[n.Type]; ok {
		n.Type = to
	}
	n.Virtual = virtualTypes[n.Type]
}

type uiBuilder struct {
	lim    Limits
	g      *Graph
	defs   map[string]map[string]any
	groups map[string][]any
	count  int
}

func (b *uiBuilder) build(root map[string]any) (*Graph, error) {
	b.collectDefs(root, 0)
	if extra, ok := root["extra"].(map[string]any); ok {
		if gn, ok := extra["groupNodes"].(map[string]any); ok {
			for name, def := range gn {
				if d, ok := def.(map[string]any); ok {
					if nodes, ok := d["nodes"].([]any); ok {
						b.groups[name] = nodes
					}
				}
			}
		}
	}
	b.g.Models = embeddedModels(root["models"])
	nodes, _ := root["nodes"].([]any)
	if err := b.expand(nodes, "nodes", "", "", nil, 0, nil); err != nil {
		return nil, err
	}
	return b.g, nil
}

// collectDefs indexes subgraph definitions; the frontend saves them flat at the root, but the
// schema also allows nested "definitions".
func (b *uiBuilder) collectDefs(obj map[string]any, depth int) {
	if depth > b.lim.MaxSubgraphDepth {
		return
	}
	defs, _ := obj["definitions"].(map[string]any)
	subs, _ := defs["subgraphs"].([]any)
	for _, s := range subs {
		d, ok := s.(map[string]any)
		if !ok {
			continue
		}
		if id, ok := d["id"].(string); ok && id != "" {
			if _, dup := b.defs[id]; !dup {
				b.defs[id] = d
			}
		}
		b.collectDefs(d, depth+1)
	}
}

func nodeID(v any) string {
	switch t := v.(type) {
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 && !math.Signbit(t) {
			return strconv.FormatInt(int64(t), 10) // the same digits, without the float formatting
		}
		return strconv.FormatFloat(t, 'f', -1, 64)
	case string:
		return t
	case nil:
		return ""
	default:
		return fmt.Sprint(t)
	}
}

func (b *uiBuilder) expand(nodes []any, where, prefix, inactive string, overrides map[string]map[string]any, depth int, stack []string) error {
	for i, raw := range nodes {
		obj, ok := raw.(map[string]any)
		if !ok {
			return invalid("%s[%d] must be an object, got %s", where, i, jsonKind(raw))
		}
		rawID := nodeID(obj["id"])
		typ, ok := obj["type"].(string)
		if !ok {
			return invalid("%s[%d] (id %s) has no string \"type\"", where, i, orDash(rawID))
		}
		b.count++
		if b.count > b.lim.MaxNodes {
			return invalid("workflow expands to more than %d nodes", b.lim.MaxNodes)
		}
		n := &Node{ID: prefix + rawID, Type: typ, Parent: strings.TrimSuffix(prefix, ":")}
		n.Title, _ = obj["title"].(string)
		switch wv := obj["widgets_values"].(type) {
		case []any:
			n.Widgets = wv
		case map[string]any:
			n.WidgetMap = wv
		}
		var proxy []any
		if props, ok := obj["properties"].(map[string]any); ok {
			proxy, _ = props["proxyWidgets"].([]any)
			n.CnrID, _ = props["cnr_id"].(string)
			n.AuxID, _ = props["aux_id"].(string)
			n.Ver, _ = props["ver"].(string)
			n.Models = embeddedModels(props["models"])
		}
		n.Overrides = overrides[rawID]
		mode, _ := obj["mode"].(float64)
		reason := inactive
		if reason == "" {
			switch mode {
			case 2:
				reason = "muted"
			case 4:
				reason = "bypassed"
			}
		}
		n.Inactive, n.InactiveReason = reason != "", reason
		finishNode(n)
		b.g.Nodes = append(b.g.Nodes, n)

		switch {
		case b.defs[typ] != nil:
			n.Instance = true
			def := b.defs[typ]
			if n.Title == "" {
				n.Title, _ = def["name"].(string)
			}
			if contains(stack, typ) {
				b.g.Warnings = append(b.g.Warnings, fmt.Sprintf("node %s: subgraph %s contains itself; not expanded", n.ID, typ))
				continue
			}
			if depth+1 > b.lim.MaxSubgraphDepth {
				return invalid("node %s: subgraphs nest deeper than %d levels", n.ID, b.lim.MaxSubgraphDepth)
			}
			inner, _ := def["nodes"].([]any)
			err := b.expand(inner, "subgraph "+typ+" nodes", n.ID+":", reason, subgraphOverrides(def, n.Widgets, proxy), depth+1, append(stack, typ))
			if err != nil {
				return err
			}
		case strings.HasPrefix(typ, "workflow>") || strings.HasPrefix(typ, "workflow/"):
			n.Instance = true
			name := typ[len("workflow>"):]
			inner, ok := b.groups[name]
			if !ok {
				n.Broken = true
				b.g.Warnings = append(b.g.Warnings, fmt.Sprintf("node %s: group node %q has no definition in extra.groupNodes", n.ID, name))
				continue
			}
			if depth+1 > b.lim.MaxSubgraphDepth {
				return invalid("node %s: group nodes nest deeper than %d levels", n.ID, b.lim.MaxSubgraphDepth)
			}
			// Group-node members have an "index" and no id.
			members := make([]any, 0, len(inner))
			for j, m := range inner {
				mo, ok := m.(map[string]any)
				if !ok {
					return invalid("extra.groupNodes[%q].nodes[%d] must be an object, got %s", name, j, jsonKind(m))
				}
				c := make(map[string]any, len(mo)+1)
				for k, v := range mo {
					c[k] = v
				}
				if _, has := c["id"]; !has {
					if idx, ok := mo["index"]; ok {
						c["id"] = idx
					} else {
						c["id"] = float64(j)
					}
				}
				members = append(members, c)
			}
			if err := b.expand(members, "extra.groupNodes["+strconv.Quote(name)+"].nodes", n.ID+":", reason, nil, depth+1, stack); err != nil {
				return err
			}
		case uuidRe.MatchString(typ):
			n.Instance, n.Broken = true, true
			b.g.Warnings = append(b.g.Warnings, fmt.Sprintf("node %s: subgraph instance refers to definition %s, which the workflow does not contain", n.ID, typ))
		}
	}
	return nil
}

// subgraphOverrides maps inner node id -> widget name -> the value the instance supplies.
//
// Newer frontends save properties.proxyWidgets, a list of [inner node id, widget name] pairs
// aligned with the instance's widgets_values ("-1" names a subgraph input). Older ones save, in
// order, the values of the definition's widget-typed inputs. Either way an inner widget linked
// from the input node (-10) takes the value of its subgraph input.
func subgraphOverrides(def map[string]any, instWidgets []any, proxy []any) map[string]map[string]any {
	if len(instWidgets) == 0 {
		return nil
	}
	out := map[string]map[string]any{}
	set := func(id, name string, v any) {
		if out[id] == nil {
			out[id] = map[string]any{}
		}
		out[id][name] = v
	}
	inputs, _ := def["inputs"].([]any)
	slotByName := map[string]int{}
	for slot, in := range inputs {
		io, _ := in.(map[string]any)
		if name, ok := io["name"].(string); ok {
			if _, dup := slotByName[name]; !dup {
				slotByName[name] = slot
			}
		}
	}
	slotValue := map[int]any{}
	if len(proxy) > 0 {
		for i, e := range proxy {
			pair, _ := e.([]any)
			if len(pair) != 2 || i >= len(instWidgets) || instWidgets[i] == nil {
				continue
			}
			id, name := nodeID(pair[0]), nodeID(pair[1])
			if id == "-1" {
				if slot, ok := slotByName[name]; ok {
					slotValue[slot] = instWidgets[i]
				}
				continue
			}
			set(id, name, instWidgets[i])
		}
	} else {
		p := 0
		for slot, in := range inputs {
			io, _ := in.(map[string]any)
			t, _ := io["type"].(string)
			if !widgetTypes[t] {
				continue
			}
			if p < len(instWidgets) {
				slotValue[slot] = instWidgets[p]
			}
			p++
		}
	}
	if len(slotValue) > 0 {
		fromInput := map[string]int{} // link id -> input slot
		links, _ := def["links"].([]any)
		for _, l := range links {
			var id, origin, slot any
			switch t := l.(type) {
			case map[string]any:
				id, origin, slot = t["id"], t["origin_id"], t["origin_slot"]
			case []any:
				if len(t) >= 3 {
					id, origin, slot = t[0], t[1], t[2]
				}
			}
			if o, _ := origin.(float64); o == -10 {
				if s, ok := slot.(float64); ok {
					fromInput[nodeID(id)] = int(s)
				}
			}
		}
		nodes, _ := def["nodes"].([]any)
		for _, rn := range nodes {
			no, _ := rn.(map[string]any)
			ins, _ := no["inputs"].([]any)
			for _, ri := range ins {
				io, _ := ri.(map[string]any)
				w, _ := io["widget"].(map[string]any)
				name, _ := w["name"].(string)
				if name == "" || io["link"] == nil {
					continue
				}
				slot, ok := fromInput[nodeID(io["link"])]
				if !ok {
					continue
				}
				if v, ok := slotValue[slot]; ok {
					set(nodeID(no["id"]), name, v)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func embeddedModels(v any) []EmbeddedModel {
	list, _ := v.([]any)
	var out []EmbeddedModel
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		em := EmbeddedModel{}
		em.Name, _ = m["name"].(string)
		em.URL, _ = m["url"].(string)
		em.Directory, _ = m["directory"].(string)
		em.Hash, _ = m["hash"].(string)
		em.HashType, _ = m["hash_type"].(string)
		if em.Name == "" && em.URL == "" {
			continue
		}
		out = append(out, em)
	}
	return out
}

func contains(s []string, v string) bool {
	for _, e := range s {
		if e == v {
			return true
		}
	}
	return false
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
