package project

import (
	"encoding/json"
	"reflect"
	"testing"
)

var launcherCases = []string{
	`{"format":"comfyui_launcher","workflow_json":{"nodes":[{"id":1,"widgets_values":["a\"}]{[b",1.5e3,null,true]}],"links":[]},"files":[[{"download_url":"https://x/y","dest_relative_path":"models/checkpoints/a.safetensors"}]]}`,
	` { "workflow_json" : [1, {"a": "}"}] , "version" : "1.0" } `,
	`{"workflow_json":{"a":1},"workflow_json":{"b":2}}`,
	`{"workflow_json":null,"snapshot_json":{"comfyui":"abc","git_custom_nodes":{"https://g/x":{"hash":null,"disabled":true}}}}`,
	`{"workflow_json":"a string \\u0041"}`,
	`{"workflow_json":12}`,
	`{"files":[],"workflow_json":{}}`,
	`{"Workflow_JSON":{"x":1},"workflow_json":{"y":2}}`,
	`{"workflow\u005fjson":{"x":1}}`,
	`{"format":"x"}`,
	`{}`,
	`{"workflow_json":{"nodes":[1,2,}]}}`,
	`{"workflow_json":{"nodes":[1,2]},"files":[[{"size":"big"}]]}`,
	`{"workflow_json":{"a":1}`,
	`{"workflow_json":{"a":1}} trailing`,
	`{"workflow_json":{"a":1}]}`,
	`{"workflow_json":tru}`,
	`{"workflow_json":{"a":"unterminated}}`,
	`[1,2]`,
	`{"pip_requirements":[{"name":"x"}],"workflow_json":{"k":"\u2028 é"}}`,
}

// TestParseLauncherJSONLikeEncodingJSON: decoding with the workflow cut out gives what
// encoding/json gives, and fails where it fails.
func TestParseLauncherJSONLikeEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, raw := range launcherCases {
		checkLikeUnmarshal(t, []byte(raw))
	}
}

func checkLikeUnmarshal(t *testing.T, raw []byte) {
	t.Helper()
	var want, got launcherJSON
	werr := json.Unmarshal(raw, &want)
	gerr := decodeWithout(raw, "workflow_json", &got, &got.WorkflowJSON)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%s: error %v, encoding/json: %v", raw, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", raw, got, want)
	}
}

// TestCutMemberTakesTheWorkflow: the fast path is the one taken for a launcher JSON (not the
// whole-document fallback), so it is the one the cases above test.
func TestCutMemberTakesTheWorkflow(t *testing.T) {
	t.Parallel()
	v, rest, ok := cutMember([]byte(launcherCases[0]), "workflow_json")
	if !ok || string(v) != `{"nodes":[{"id":1,"widgets_values":["a\"}]{[b",1.5e3,null,true]}],"links":[]}` ||
		string(rest) != `{"format":"comfyui_launcher","files":[[{"download_url":"https://x/y","dest_relative_path":"models/checkpoints/a.safetensors"}]]}` {
		t.Fatalf("cutMember = %s, %s, %v", v, rest, ok)
	}
	if _, _, ok := cutMember([]byte(`{"workflow\u005fjson":{}}`), "workflow_json"); ok {
		t.Fatal("an escaped key took the fast path")
	}
}

// FuzzParseLauncherJSON: for any input, decodeWithout agrees with encoding/json.
func FuzzParseLauncherJSON(f *testing.F) {
	for _, c := range launcherCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkLikeUnmarshal(t, raw) })
}
