package workflow

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// TestMalformed checks that bad input is a 4xx-kind error whose message names the problem and
// where it is.
func TestMalformed(t *testing.T) {
	deep := strings.Repeat("[", 200) + strings.Repeat("]", 200)
	cases := []struct {
		name string
		in   string
		kind apierr.Kind
		want string
	}{
		{"empty", "  ", apierr.Invalid, "workflow is empty"},
		{"syntax", "{\n  \"nodes\": [\n    {\"id\": 1,}\n  ]\n}", apierr.Invalid, "line 3, column"},
		{"not an object", `[1,2,3]`, apierr.Invalid, "must be a JSON object, got an array"},
		{"number", `42`, apierr.Invalid, "got a number"},
		{"empty object", `{}`, apierr.Invalid, "empty object"},
		{"nodes not array", `{"nodes": {"1": {}}}`, apierr.Invalid, `"nodes" must be an array`},
		{"node not object", `{"nodes": [{"id":1,"type":"A"}, 7]}`, apierr.Invalid, "nodes[1] must be an object, got a number"},
		{"node without type", `{"nodes": [{"id": 12}]}`, apierr.Invalid, `nodes[0] (id 12) has no string "type"`},
		{"api node without class_type", `{"1": {"class_type": "KSampler", "inputs": {}}, "2": {"inputs": {}}}`, apierr.Invalid, `node "2" has no "class_type"`},
		{"api class_type not string", `{"1": {"class_type": 5}}`, apierr.Invalid, `node "1": "class_type" must be a string`},
		{"api inputs not object", `{"1": {"class_type": "KSampler", "inputs": [1]}}`, apierr.Invalid, `node "1" (KSampler): "inputs" must be an object`},
		{"unknown shape", `{"foo": 1, "bar": [2]}`, apierr.Invalid, "top-level keys: bar, foo"},
		{"too deep", deep, apierr.Invalid, "nests deeper than 128 levels at line 1, column 129"},
		{"string not json", `{"workflow": "not json"}`, apierr.Invalid, "neither UI format"},
		{"bare string not json", `"nope"`, apierr.Invalid, "string that is not JSON"},
		{"launcher without workflow", `{"format": "comfyui_launcher", "workflow_json": null, "files": []}`, apierr.Invalid, `launcher JSON has no "workflow_json"`},
		{"launcher bad files", `{"format": "comfyui_launcher", "workflow_json": {"nodes": []}, "files": "x"}`, apierr.Invalid, `field "files"`},
		{"launcher escaping dest", `{"format": "comfyui_launcher", "workflow_json": {"nodes": []}, "files": [[{"download_url": "https://x/y", "dest_relative_path": "../../etc/passwd"}]]}`, apierr.Invalid, "leaves the ComfyUI directory"},
		{"launcher inner error located", `{"format": "comfyui_launcher", "workflow_json": {"nodes": [{"id": 3}]}}`, apierr.Invalid, `workflow_json: nodes[0] (id 3)`},
		{"subgraph inner node bad", `{"nodes": [{"id": 1, "type": "aaaaaaaa-1111-4111-8111-111111111111"}], "definitions": {"subgraphs": [{"id": "aaaaaaaa-1111-4111-8111-111111111111", "nodes": [{"id": 5, "type": 9}]}]}}`, apierr.Invalid, `subgraph aaaaaaaa-1111-4111-8111-111111111111 nodes[0] (id 5) has no string "type"`},
		{"group member bad", `{"nodes": [{"id": 1, "type": "workflow>G"}], "extra": {"groupNodes": {"G": {"nodes": ["x"]}}}}`, apierr.Invalid, `extra.groupNodes["G"].nodes[0] must be an object`},
	}
	s := NewService(Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Analyze(context.Background(), []byte(c.in))
			if err == nil {
				t.Fatalf("want error containing %q, got none", c.want)
			}
			var ae *apierr.Error
			if !errors.As(err, &ae) {
				t.Fatalf("want *apierr.Error, got %T: %v", err, err)
			}
			if ae.Kind != c.kind {
				t.Errorf("kind = %v, want %v (%v)", ae.Kind, c.kind, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err.Error(), c.want)
			}
			if len(ae.Suggestions) == 0 {
				t.Errorf("error %q has no suggestions", err)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	nodes := make([]string, 0, 20)
	for i := range 20 {
		nodes = append(nodes, `{"id":`+strconv.Itoa(i)+`,"type":"KSampler"}`)
	}
	wf := `{"nodes":[` + strings.Join(nodes, ",") + `]}`
	// A subgraph that contains itself through a second definition must not recurse forever.
	cyclic := `{"nodes":[{"id":1,"type":"aaaaaaaa-1111-4111-8111-111111111111"}],"definitions":{"subgraphs":[
		{"id":"aaaaaaaa-1111-4111-8111-111111111111","nodes":[{"id":2,"type":"bbbbbbbb-1111-4111-8111-111111111111"}]},
		{"id":"bbbbbbbb-1111-4111-8111-111111111111","nodes":[{"id":3,"type":"aaaaaaaa-1111-4111-8111-111111111111"}]}]}}`
	cases := []struct {
		name string
		lim  Limits
		in   string
		kind apierr.Kind
		want string
	}{
		{"bytes", Limits{MaxBytes: 100}, wf, apierr.TooLarge, "the limit is 100"},
		{"nodes", Limits{MaxNodes: 10}, wf, apierr.Invalid, "more than 10 nodes"},
		{"depth", Limits{MaxDepth: 2}, wf, apierr.Invalid, "nests deeper than 2"},
		{"cycle", Limits{}, cyclic, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewService(Options{Limits: c.lim})
			a, err := s.Analyze(context.Background(), []byte(c.in))
			if c.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if !strings.Contains(strings.Join(a.Metadata.Warnings, "\n"), "contains itself") {
					t.Errorf("want a warning about the cycle, got %v", a.Metadata.Warnings)
				}
				return
			}
			if err == nil || apierr.KindOf(err) != c.kind || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v (kind %v), want kind %v containing %q", err, apierr.KindOf(err), c.kind, c.want)
			}
		})
	}
}
