package workflow

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/workflow/workflowtest"
)

// BenchmarkJSONFastLargestCorpus: the fast JSON parser alone on the largest corpus workflow.
func BenchmarkJSONFastLargestCorpus(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(workflowtest.CorpusDir(b, "workflows"), "ltxvideo__LTX-2_ICLoRA_All_Distilled.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	defer workflowtest.ReportCPU(b)()
	for b.Loop() {
		if _, ok := parseJSONFast(raw, 128, nil); !ok {
			b.Fatal("not parsed")
		}
	}
}
