package housenodes

import (
	"context"
	"encoding/json"
	"testing"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

func TestLoaderTable(t *testing.T) {
	p := &Parser{}
	cfg := `{"loaders":[{"node_type":"AcmeLoader","input":"ckpt","widget":1,"folder":"checkpoints","pack":"https://git.example/acme"}]}`
	if err := p.Configure(json.RawMessage(cfg)); err != nil {
		t.Fatal(err)
	}
	res, err := p.ParseWorkflow(context.Background(), sdk.ParseRequest{Nodes: []sdk.WorkflowNode{
		{ID: "1", Type: "AcmeLoader", Inputs: map[string]any{"ckpt": "a.safetensors"}},
		{ID: "2", Type: "AcmeLoader", Widgets: []any{"x", "b.safetensors"}},
		{ID: "3", Type: "AcmeLoader"},
		{ID: "4", Type: "KSampler", Inputs: map[string]any{"ckpt": "no.safetensors"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Models) != 2 || res.Models[0].Filename != "a.safetensors" || res.Models[1].Filename != "b.safetensors" || res.Models[1].Folder != "checkpoints" {
		t.Errorf("models = %+v", res.Models)
	}
	if len(res.Packs) != 1 || res.Packs[0].Repo != "https://git.example/acme" || len(res.Warnings) != 1 {
		t.Errorf("packs = %+v warnings = %v", res.Packs, res.Warnings)
	}
	for _, bad := range []string{`{}`, `{"loaders":[{"node_type":"X"}]}`, `{"loaders":[],"x":1}`} {
		if err := (&Parser{}).Configure(json.RawMessage(bad)); err == nil {
			t.Errorf("config %s accepted", bad)
		}
	}
}
