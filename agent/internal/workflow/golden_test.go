package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/workflow/workflowtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// testService is a Service over the hermetic testdata/manager fixture and a fake catalog.
func testService(t testing.TB, cat ModelCatalog) *Service {
	t.Helper()
	return NewService(Options{Manager: workflowtest.Manager(t), Catalog: cat, ReadHeader: func(string) (TensorStats, error) {
		return TensorStats{}, os.ErrNotExist
	}})
}

type goldenOut struct {
	Metadata      *Metadata      `json:"metadata"`
	MissingModels []MissingModel `json:"missing_models"`
	LauncherJSON  *LauncherJSON  `json:"launcher_json"`
}

// TestGolden analyses every workflow in testdata/workflows and compares metadata, validation
// and the readable table with testdata/golden (regenerate with -update).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/workflows/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test workflows: %v", err)
	}
	s := testService(t, workflowtest.DefaultCatalog())
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			v, err := s.Validate(context.Background(), raw)
			if err != nil {
				t.Fatalf("validate: %v", err)
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if err := enc.Encode(goldenOut{v.Analysis.Metadata, v.Missing, v.Launcher}); err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join("testdata/golden", name+".json"), buf.Bytes())
			var tbl bytes.Buffer
			if err := WriteTable(&tbl, v.Analysis.Metadata); err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join("testdata/golden", name+".txt"), tbl.Bytes())
		})
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output; run go test -run TestGolden -update and review the diff\n--- got ---\n%s", path, got)
	}
}
