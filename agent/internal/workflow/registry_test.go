package workflow

import (
	"context"
	"strings"
	"testing"
)

// packParser is an extension parser for a made-up pack: it knows its loader and claims its type.
type packParser struct{}

func (packParser) ID() string { return "test.mypack" }

func (packParser) Parse(_ context.Context, in *Input, out *Findings) error {
	for _, n := range in.Graph.Nodes {
		if n.Type != "MyPackLoader" {
			continue
		}
		if v, ok := n.Value("model", 0); ok {
			out.AddModel(ModelRef{Filename: v.(string), Folder: "mypack_models", NodeType: n.Type, NodeID: n.ID, Source: "test.mypack"})
		}
		out.Packs = append(out.Packs, PackHint{NodeType: n.Type, Repo: "https://github.com/me/mypack"})
		out.Tag("mypack")
	}
	return nil
}

type panicParser struct{}

func (panicParser) ID() string                                     { return "test.panics" }
func (panicParser) Parse(context.Context, *Input, *Findings) error { panic("boom") }

func TestRegistryChain(t *testing.T) {
	s := NewService(Options{})
	if err := s.Registry().Register(packParser{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Registry().Register(panicParser{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Registry().Register(packParser{}); err == nil {
		t.Error("duplicate id accepted")
	}
	if err := s.Registry().Register(badID{}); err == nil {
		t.Error("un-namespaced id accepted")
	}
	ids := strings.Join(s.Registry().IDs(), ",")
	if want := "core.loaders,core.metadata,core.embeddings,core.urls,test.mypack,test.panics,core.fallback"; ids != want {
		t.Errorf("chain = %s, want %s", ids, want)
	}
	wf := `{"1": {"class_type": "MyPackLoader", "inputs": {"model": "special.safetensors"}}}`
	a, err := s.Analyze(context.Background(), []byte(wf))
	if err != nil {
		t.Fatal(err)
	}
	md := a.Metadata
	// The extension claimed the file first, so the fallback did not add it with a guessed folder.
	if len(md.RequiredModels) != 1 || md.RequiredModels[0].Folder != "mypack_models" || md.RequiredModels[0].Source != "test.mypack" {
		t.Errorf("models = %+v", md.RequiredModels)
	}
	if len(md.RequiredCustomNodes) != 1 || md.RequiredCustomNodes[0].Repo != "https://github.com/me/mypack" || md.RequiredCustomNodes[0].ResolvedBy != "parser" {
		t.Errorf("packs = %+v", md.RequiredCustomNodes)
	}
	if !contains(md.Tags, "mypack") {
		t.Errorf("tags = %v", md.Tags)
	}
	if !strings.Contains(strings.Join(md.Warnings, "\n"), "parser test.panics failed: panic: boom") {
		t.Errorf("panic not reported as a warning: %v", md.Warnings)
	}
	s.Registry().Unregister("test.panics")
	if strings.Contains(strings.Join(s.Registry().IDs(), ","), "test.panics") {
		t.Error("unregister did not remove the parser")
	}
}

type badID struct{ packParser }

func (badID) ID() string { return "nodot" }

func TestLoaderTableData(t *testing.T) {
	lt, err := ParseLoaderTable(loadersTSV)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		typ, input, folder string
		idx                int
	}{
		{"CheckpointLoaderSimple", "ckpt_name", "checkpoints", 0},
		{"DualCLIPLoader", "clip_name2", "text_encoders", 1},
		{"LoadFluxControlNet", "controlnet_path", "xlabs_controlnets", 1},
		{"LTXAVTextEncoderLoader", "ckpt_name", "checkpoints", 1},
	} {
		found := false
		for _, s := range lt[c.typ] {
			if s.Input == c.input && s.Folder == c.folder && s.Index == c.idx {
				found = true
			}
		}
		if !found {
			t.Errorf("%s.%s -> %s[%d] missing from data/loaders.tsv", c.typ, c.input, c.folder, c.idx)
		}
	}
	if _, err := ParseLoaderTable("A\tb\tnotanumber\tc\n"); err == nil {
		t.Error("bad index accepted")
	}
}
