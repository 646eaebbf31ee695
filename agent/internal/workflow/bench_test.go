package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/workflow/workflowtest"
)

// BenchmarkAnalyzeLargestCorpus: the largest corpus file (LTX-2 ICLoRA, 370 KB, 6 subgraph
// definitions) through the whole analysis with the real Manager data.
func BenchmarkAnalyzeLargestCorpus(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(workflowtest.CorpusDir(b, "workflows"), "ltxvideo__LTX-2_ICLoRA_All_Distilled.json"))
	if err != nil {
		b.Fatal(err)
	}
	s := NewService(Options{Manager: workflowtest.SeededManager(b)})
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	defer workflowtest.ReportCPU(b)()
	for b.Loop() {
		if _, err := s.Analyze(context.Background(), raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseLargestCorpus: decode and flatten only.
func BenchmarkParseLargestCorpus(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(workflowtest.CorpusDir(b, "workflows"), "ltxvideo__LTX-2_ICLoRA_All_Distilled.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(raw, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// synthetic10MB builds a UI workflow of about 10 MB: repeated SD pipelines with loaders, prompts
// and links.
func synthetic10MB(tb testing.TB) []byte {
	tb.Helper()
	filler := strings.Repeat("highly detailed, 8k, masterpiece, sharp focus, cinematic lighting, ", 30)
	var nodes []map[string]any
	var links [][]any
	id := 0
	for len(nodes) < 20000 {
		base := id
		nodes = append(nodes,
			map[string]any{"id": base + 1, "type": "CheckpointLoaderSimple", "pos": []int{0, 0}, "size": []int{315, 98}, "mode": 0,
				"properties":     map[string]any{"cnr_id": "comfy-core", "ver": "0.3.65", "Node name for S&R": "CheckpointLoaderSimple"},
				"outputs":        []map[string]any{{"name": "MODEL", "type": "MODEL", "links": []int{base + 1}}},
				"widgets_values": []any{fmt.Sprintf("sdxl\\model_%d.safetensors", base%97)}},
			map[string]any{"id": base + 2, "type": "CLIPTextEncode", "pos": []int{0, 0}, "size": []int{400, 200}, "mode": 0,
				"widgets_values": []any{fmt.Sprintf("a very long prompt number %d with embedding:style_%d, %s", base, base%13, filler)}},
			map[string]any{"id": base + 3, "type": "LoraLoader", "mode": base % 3, "widgets_values": []any{fmt.Sprintf("loras/l_%d.safetensors", base%31), 1, 1}},
			map[string]any{"id": base + 4, "type": "KSampler", "mode": 0, "widgets_values": []any{base, "randomize", 20, 7, "euler", "normal", 1}},
			map[string]any{"id": base + 5, "type": "ImageResize+", "mode": 0, "widgets_values": []any{1024, 1024, "lanczos", "keep proportion", "always", 0}},
		)
		links = append(links, []any{base + 1, base + 1, 0, base + 4, 0, "MODEL"})
		id += 5
	}
	raw, err := json.Marshal(map[string]any{"last_node_id": id, "nodes": nodes, "links": links, "version": 0.4})
	if err != nil {
		tb.Fatal(err)
	}
	if len(raw) < 10<<20 || len(raw) > 12<<20 {
		tb.Fatalf("synthetic workflow is %d bytes, want about 10 MB", len(raw))
	}
	return raw
}

// BenchmarkAnalyze10MB: a 10 MB synthetic UI workflow through the whole analysis.
func BenchmarkAnalyze10MB(b *testing.B) {
	raw := synthetic10MB(b)
	s := testService(b, nil)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Analyze(context.Background(), raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse10MB: decode and flatten only.
func BenchmarkParse10MB(b *testing.B) {
	raw := synthetic10MB(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(raw, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
