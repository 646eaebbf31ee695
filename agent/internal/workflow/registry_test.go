package workflow

import (
	"context"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// packParser is an in-process parser for a made-up pack: it knows its loader and claims its type.
type packParser struct{}

func (packParser) Parse(_ context.Context, in *Input, out *Findings) error {
	for _, n := range in.Graph.Nodes {
		if n.Type != "MyPackLoader" {
			continue
		}
		if v, ok := n.Value("model", 0); ok {
			out.AddModel(ModelRef{Filename: v.(string), Folder: "mypack_models", NodeType: n.Type, NodeID: n.ID, Source: "builtin.mypack"})
		}
		out.Packs = append(out.Packs, PackHint{NodeType: n.Type, Repo: "https://github.com/me/mypack"})
		out.Tag("mypack")
	}
	return nil
}

type panicParser struct{}

func (panicParser) Parse(context.Context, *Input, *Findings) error { panic("boom") }

// sdkParser is a transport-side parser (what a WASM module or plugin implements): it sees
// only the sdk request.
type sdkParser struct{ seen *sdk.ParseRequest }

func (p sdkParser) ParseWorkflow(_ context.Context, req sdk.ParseRequest) (sdk.ParseResult, error) {
	*p.seen = req
	var out sdk.ParseResult
	for _, n := range req.Nodes {
		if n.Type == "AcmeLoader" {
			name, _ := n.Inputs["ckpt"].(string)
			out.Models = append(out.Models, sdk.ModelRef{Filename: name, Folder: "checkpoints", NodeID: n.ID, NodeType: n.Type, Input: "ckpt"})
			out.Packs = append(out.Packs, sdk.PackRef{NodeType: n.Type, Repo: "https://git.example/acme"})
		}
	}
	out.Warnings = []string{"saw it"}
	return out, nil
}

type loaded struct {
	sdkParser
}

func (loaded) Manifest() sdk.Manifest {
	return sdk.Manifest{Name: "acme", Capabilities: []sdk.Capability{sdk.CapWorkflowParser}}
}
func (loaded) Close(context.Context) error { return nil }

type opener struct{ l extension.Loaded }

func (o opener) Open(context.Context, extension.Spec) (extension.Loaded, error) { return o.l, nil }

func parserIDs(r *extension.Registry) string {
	var ids []string
	for _, e := range r.Ordered(sdk.CapWorkflowParser) {
		ids = append(ids, e.ID())
	}
	return strings.Join(ids, ",")
}

func TestParserChainThroughTheRegistry(t *testing.T) {
	ctx := context.Background()
	reg := extension.New(extension.Options{})
	if err := RegisterParsers(ctx, reg); err != nil {
		t.Fatal(err)
	}
	info := func(name string) extension.Info {
		return extension.Info{ID: "builtin." + name, Transport: extension.TransportBuiltin, Capabilities: []sdk.Capability{sdk.CapWorkflowParser}}
	}
	if _, err := reg.Register(ctx, info("mypack"), packParser{}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(ctx, info("panics"), panicParser{}); err != nil {
		t.Fatal(err)
	}
	if err := RegisterParsers(ctx, reg); err == nil {
		t.Error("registering the core parsers twice must conflict")
	}
	var seen sdk.ParseRequest
	if _, err := reg.Load(ctx, extension.TransportWASM, opener{loaded{sdkParser{&seen}}}, extension.Spec{ID: "wasm.acme"}); err != nil {
		t.Fatal(err)
	}
	if got, want := parserIDs(reg), "wasm.acme,builtin.loaders,builtin.metadata,builtin.embeddings,builtin.urls,builtin.fallback,builtin.mypack,builtin.panics"; got != want {
		t.Errorf("default chain = %s, want %s", got, want)
	}
	reg.SetOrder(sdk.CapWorkflowParser, []string{"mypack", "panics", "wasm.acme", "loaders", "metadata", "embeddings", "urls", "fallback"})
	s := NewService(Options{Extensions: reg})
	wf := `{"1": {"class_type": "MyPackLoader", "inputs": {"model": "special.safetensors"}},
		"2": {"class_type": "AcmeLoader", "inputs": {"ckpt": "acme.safetensors"}}}`
	a, err := s.Analyze(ctx, []byte(wf))
	if err != nil {
		t.Fatal(err)
	}
	md := a.Metadata
	byName := map[string]ModelRef{}
	for _, m := range md.RequiredModels {
		byName[m.Filename] = m
	}
	// The in-process parser claimed its file first, so the fallback did not add it with a guessed folder.
	if m := byName["special.safetensors"]; m.Folder != "mypack_models" || m.Source != "builtin.mypack" {
		t.Errorf("mypack model = %+v", m)
	}
	if m := byName["acme.safetensors"]; m.Folder != "checkpoints" || m.Source != "wasm.acme" || m.NodeID != "2" {
		t.Errorf("extension model = %+v (all: %+v)", m, md.RequiredModels)
	}
	if len(seen.Nodes) != 2 || seen.Format != FormatAPI || len(seen.Raw) == 0 {
		t.Errorf("extension saw %+v", seen)
	}
	repos := map[string]bool{}
	for _, p := range md.RequiredCustomNodes {
		repos[p.Repo] = true
	}
	if !repos["https://github.com/me/mypack"] || !repos["https://git.example/acme"] {
		t.Errorf("packs = %+v", md.RequiredCustomNodes)
	}
	if !contains(md.Tags, "mypack") {
		t.Errorf("tags = %v", md.Tags)
	}
	w := strings.Join(md.Warnings, "\n")
	if !strings.Contains(w, "parser builtin.panics failed") || !strings.Contains(w, "panicked: boom") || !strings.Contains(w, "wasm.acme: saw it") {
		t.Errorf("warnings = %v", md.Warnings)
	}
	if e, _ := reg.Get("builtin.panics"); e.Status().Stats.Errors != 1 {
		t.Errorf("panicking parser stats = %+v", e.Status().Stats)
	}
}

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
