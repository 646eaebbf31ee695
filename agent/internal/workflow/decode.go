package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// Limits bound what Decode accepts, so a hostile body cannot exhaust memory or the stack.
type Limits struct {
	// MaxBytes is the largest workflow accepted (default 32 MiB).
	MaxBytes int
	// MaxDepth is the deepest JSON nesting accepted (default 128).
	MaxDepth int
	// MaxNodes caps nodes after subgraph and group-node expansion (default 50000).
	MaxNodes int
	// MaxSubgraphDepth caps nested subgraph instances (default 16).
	MaxSubgraphDepth int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 32 << 20
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 128
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = 50000
	}
	if l.MaxSubgraphDepth <= 0 {
		l.MaxSubgraphDepth = 16
	}
	return l
}

// Format names of a decoded document.
const (
	FormatUI  = "ui"
	FormatAPI = "api"
)

// Document is a decoded workflow: the inner graph in UI or API format, plus what wrapped it.
type Document struct {
	// Format is FormatUI or FormatAPI.
	Format string
	// Wrapper is the path of the wrapper the graph was found in ("", "workflow_json",
	// "input.workflow", "prompt", "workflow", ...).
	Wrapper string
	// Root is the graph object: a UI workflow or an API prompt.
	Root map[string]any
	// Launcher is set when the input was a launcher JSON (format "comfyui_launcher" or a bundled
	// template with workflow_json); its files and snapshot enrich the analysis.
	Launcher *LauncherJSON
	// Raw is the input as received.
	Raw []byte
}

func invalid(format string, args ...any) *apierr.Error {
	return apierr.Newf(apierr.Invalid, "WorkflowParseError", format, args...).
		Suggest("Export the workflow from ComfyUI with Save (UI format) or Export (API), and send the file unchanged")
}

// Decode checks the limits, parses raw as JSON and finds the workflow inside it. Errors are
// *apierr.Error of kind Invalid or TooLarge naming the problem and where it is.
func Decode(raw []byte, lim Limits) (*Document, error) {
	lim = lim.withDefaults()
	if len(raw) > lim.MaxBytes {
		return nil, apierr.Newf(apierr.TooLarge, "PayloadTooLargeError", "workflow is %d bytes, the limit is %d", len(raw), lim.MaxBytes).
			Suggest("Remove embedded images or unused subgraphs from the workflow")
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil, invalid("workflow is empty")
	}
	v, err := parseWorkflowJSON(trimmed, lim.MaxDepth)
	if err != nil {
		return nil, err
	}
	return decodeValue(v, raw, 0)
}

// parseWorkflowJSON parses the JSON of a workflow in one pass; input the fast parser is not
// sure of takes the encoding/json path, whose errors name the line and column.
func parseWorkflowJSON(b []byte, maxDepth int) (any, error) {
	if v, ok := parseJSONFast(b, maxDepth, nil); ok {
		return v, nil
	}
	if err := checkDepth(b, maxDepth); err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, jsonError(b, err)
	}
	return v, nil
}

// stdlibMaxDepth is the nesting encoding/json accepts: a workflow carried in a string is read
// by the fast parser up to the same depth, so it accepts what json.Unmarshal would.
const stdlibMaxDepth = 10000

// DecodeValue is Decode for an already parsed JSON value (e.g. a request's workflow_json field).
func DecodeValue(v any, raw []byte) (*Document, error) { return decodeValue(v, raw, 0) }

func decodeValue(v any, raw []byte, level int) (*Document, error) {
	if level > 4 {
		return nil, invalid("workflow is wrapped more than 4 levels deep")
	}
	if s, ok := v.(string); ok {
		// PNG text chunks and some APIs carry the workflow as a JSON string.
		inner, ok := parseJSONString(s, stdlibMaxDepth, nil)
		if !ok {
			if err := json.Unmarshal([]byte(s), &inner); err != nil {
				return nil, invalid("workflow is a string that is not JSON: %v", err)
			}
		}
		return decodeValue(inner, raw, level+1)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, invalid("workflow must be a JSON object, got %s", jsonKind(v))
	}
	if isLauncher(obj) {
		lj, err := parseLauncher(obj)
		if err != nil {
			return nil, err
		}
		doc, err := decodeValue(obj["workflow_json"], raw, level+1)
		if err != nil {
			return nil, prefixErr("workflow_json", err)
		}
		doc.Wrapper = joinPath("workflow_json", doc.Wrapper)
		doc.Launcher = lj
		return doc, nil
	}
	if nodes, has := obj["nodes"]; has {
		if _, isList := nodes.([]any); !isList {
			return nil, invalid("\"nodes\" must be an array (UI format), got %s", jsonKind(nodes))
		}
		return &Document{Format: FormatUI, Root: obj, Raw: raw}, nil
	}
	if isAPI(obj) {
		return &Document{Format: FormatAPI, Root: obj, Raw: raw}, nil
	}
	// Known wrappers, UI forms first: they carry more (titles, modes, metadata).
	for _, path := range [][]string{
		{"workflow"}, {"input", "workflow"}, {"extra_data", "extra_pnginfo", "workflow"},
		{"extra_pnginfo", "workflow"}, {"prompt"}, {"input", "prompt"}, {"data"}, {"workflow_api"}, {"graph"},
	} {
		inner, ok := lookupPath(obj, path)
		if !ok || inner == nil {
			continue
		}
		doc, err := decodeValue(inner, raw, level+1)
		if err != nil {
			continue
		}
		doc.Wrapper = joinPath(strings.Join(path, "."), doc.Wrapper)
		return doc, nil
	}
	if len(obj) == 0 {
		return nil, invalid("workflow is an empty object")
	}
	if bad := firstNonNode(obj); bad != "" {
		return nil, invalid("workflow has no \"nodes\" array (UI format) and is not an API prompt: %s; top-level keys: %s", bad, keyList(obj))
	}
	return nil, invalid("workflow is neither UI format (\"nodes\" array) nor API format (nodes with \"class_type\"); top-level keys: %s", keyList(obj))
}

func prefixErr(where string, err error) error {
	var e *apierr.Error
	if errors.As(err, &e) {
		c := *e
		c.Message = where + ": " + e.Message
		return &c
	}
	return fmt.Errorf("%s: %w", where, err)
}

func joinPath(a, b string) string {
	if b == "" {
		return a
	}
	return a + "." + b
}

func lookupPath(obj map[string]any, path []string) (any, bool) {
	var cur any = obj
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[k]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// isAPI reports whether every value is a node object with a string class_type. Keys are node ids.
func isAPI(obj map[string]any) bool {
	if len(obj) == 0 {
		return false
	}
	for _, v := range obj {
		n, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if _, ok := n["class_type"].(string); !ok {
			return false
		}
	}
	return true
}

// firstNonNode explains why an object that looks like an API prompt is not one.
func firstNonNode(obj map[string]any) string {
	withClass := 0
	for _, v := range obj {
		if n, ok := v.(map[string]any); ok {
			if _, ok := n["class_type"]; ok {
				withClass++
			}
		}
	}
	if withClass == 0 {
		return ""
	}
	for _, k := range sortedKeys(obj) {
		n, ok := obj[k].(map[string]any)
		if !ok {
			return fmt.Sprintf("node %q must be an object, got %s", k, jsonKind(obj[k]))
		}
		if ct, has := n["class_type"]; !has {
			return fmt.Sprintf("node %q has no \"class_type\"", k)
		} else if _, ok := ct.(string); !ok {
			return fmt.Sprintf("node %q: \"class_type\" must be a string, got %s", k, jsonKind(ct))
		}
	}
	return ""
}

func keyList(obj map[string]any) string {
	keys := sortedKeys(obj)
	if len(keys) > 8 {
		keys = append(keys[:8], "...")
	}
	return strings.Join(keys, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64, json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// checkDepth rejects nesting deeper than max before the decoder recurses into it.
func checkDepth(b []byte, max int) error {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			// Skip the string: find its closing quote, stepping over escapes.
			for i++; i < len(b); i++ {
				j := bytes.IndexAny(b[i:], "\"\\")
				if j < 0 {
					return nil // unterminated; the decoder reports it with its position
				}
				i += j
				if b[i] == '\\' {
					i++
					continue
				}
				break
			}
		case '{', '[':
			depth++
			if depth > max {
				line, col := lineCol(b, i)
				return invalid("workflow JSON nests deeper than %d levels at line %d, column %d", max, line, col)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

func jsonError(b []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := lineCol(b, int(syn.Offset))
		return invalid("workflow is not valid JSON at line %d, column %d: %v", line, col, syn)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		line, col := lineCol(b, int(typ.Offset))
		return invalid("workflow JSON has an unexpected %s at line %d, column %d", typ.Value, line, col)
	}
	return invalid("workflow is not valid JSON: %v", err)
}

func lineCol(b []byte, off int) (int, int) {
	if off > len(b) {
		off = len(b)
	}
	if off < 0 {
		off = 0
	}
	line := 1 + bytes.Count(b[:off], []byte{'\n'})
	col := off - bytes.LastIndexByte(b[:off], '\n')
	return line, col
}
