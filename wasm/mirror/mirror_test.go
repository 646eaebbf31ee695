package mirror

import (
	"context"
	"encoding/json"
	"testing"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

func TestMirrorMapsReferences(t *testing.T) {
	s := &Source{}
	cfg := `{"mirror":"https://m.example/models/","name_template":"{mirror}/by-name/{folder}/{name}",
		"patterns":[{"prefix":"https://files.example.com/","replace":"https://m.example/files/"}]}`
	if err := s.Configure(json.RawMessage(cfg)); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ ref, url, name string }{
		{"hf:org/repo/sub/a.safetensors@v1", "https://m.example/models/huggingface/org/repo/resolve/v1/sub/a.safetensors", "a.safetensors"},
		{"https://huggingface.co/org/repo/blob/main/b.ckpt", "https://m.example/models/huggingface/org/repo/resolve/main/b.ckpt", "b.ckpt"},
		{"civitai:12345", "https://m.example/models/civitai/12345", ""},
		{"https://civitai.com/api/download/models/77", "https://m.example/models/civitai/77", ""},
		{"https://files.example.com/x/c.pt?x=1", "https://m.example/files/x/c.pt?x=1", "c.pt"},
		{"https://elsewhere.example/d.pt", "", ""},
	}
	for _, c := range cases {
		resp, err := s.ResolveModel(context.Background(), sdk.ResolveRequest{Reference: c.ref})
		if err != nil {
			t.Fatal(err)
		}
		if c.url == "" {
			if len(resp.Candidates) != 0 {
				t.Errorf("%s: claimed %+v, want not mine", c.ref, resp.Candidates)
			}
			continue
		}
		if len(resp.Candidates) != 1 || resp.Candidates[0].URL != c.url || resp.Candidates[0].Filename != c.name {
			t.Errorf("%s: got %+v, want %s (%s)", c.ref, resp.Candidates, c.url, c.name)
		}
	}
	resp, _ := s.ResolveModel(context.Background(), sdk.ResolveRequest{Query: sdk.ModelQuery{Name: "x y.safetensors", Folder: "loras"}})
	if len(resp.Candidates) != 1 || resp.Candidates[0].URL != "https://m.example/models/by-name/loras/x%20y.safetensors" {
		t.Errorf("name template: %+v", resp.Candidates)
	}
	for _, bad := range []string{`{"mirror":"ftp://x"}`, `{"mirror":"https://x","mirorr":1}`, `{}`} {
		if err := (&Source{}).Configure(json.RawMessage(bad)); err == nil {
			t.Errorf("config %s accepted", bad)
		}
	}
}
