// Package workflowtest holds the fixtures the workflow tests share, those of package workflow
// and of its HTTP transport: a fake model catalog, the hermetic Manager data of
// workflow/testdata, the team's shared corpus, fuzz seeds and a CPU-time benchmark metric.
package workflowtest

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	registry "github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/agent/internal/managerdata"
	"github.com/comfylauncher/launcher/sdk/extension"
)

// Catalog is an in-memory model store and source: Local maps "folder/name" to a size, and
// every missing model is suggested from a fake HuggingFace repository.
type Catalog struct {
	Local map[string]int64
}

// Lookup finds folder/name in Local.
func (c *Catalog) Lookup(folder, name string) (string, int64, bool) {
	size, ok := c.Local[folder+"/"+name]
	if !ok {
		return "", 0, false
	}
	return "/models/" + folder + "/" + name, size, true
}

// Suggest offers one HuggingFace candidate named after the query.
func (c *Catalog) Suggest(_ context.Context, q extension.ModelQuery) ([]extension.ModelCandidate, []registry.Failure) {
	base := path.Base(q.Name)
	return []extension.ModelCandidate{{
		Source: "huggingface", URL: "https://huggingface.co/fake/" + q.Folder + "/resolve/main/" + base,
		Filename: base, Folder: q.Folder, Size: 1 << 20, Reference: "hf:fake/" + q.Folder + "/" + base, Confidence: 0.5,
	}}, nil
}

// DefaultCatalog holds the models the test workflows of testdata/workflows use most.
func DefaultCatalog() *Catalog {
	return &Catalog{Local: map[string]int64{
		"vae/ae.safetensors": 335_304_388,
		"checkpoints/sd15/v1-5-pruned-emaonly-fp16.safetensors": 2_132_625_894,
		"upscale_models/4x-UltraSharp.pth":                      66_961_958,
	}}
}

// Testdata is the path of elem below workflow/testdata, wherever the test runs from.
func Testdata(elem ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), "..", "testdata"}, elem...)...)
}

// Manager is the hermetic Manager data of testdata/manager, loaded, never stale.
func Manager(t testing.TB) *managerdata.Data {
	t.Helper()
	m := managerdata.New(managerdata.Options{SeedDir: Testdata("manager"), MaxAge: 100 * 365 * 24 * time.Hour})
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

// Corpus is the folder sub of the team's shared corpus, a sibling of the repository, and
// whether it is there.
func Corpus(sub string) (string, bool) {
	_, file, _, _ := runtime.Caller(0)
	d := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "..", "shared", "corpus", sub)
	fi, err := os.Stat(d)
	return d, err == nil && fi.IsDir()
}

// CorpusDir is the folder sub of the shared corpus; the test is skipped when it is not there.
func CorpusDir(t testing.TB, sub string) string {
	t.Helper()
	d, ok := Corpus(sub)
	if !ok {
		t.Skipf("shared corpus %s not present; these cases need the repository's sibling shared/ folder", d)
	}
	return d
}

var (
	corpusManagerOnce sync.Once
	corpusManager     *managerdata.Data
)

// SeededManager returns Manager data seeded from the shared corpus (loaded once per test
// binary: the files are 7 MB).
func SeededManager(t testing.TB) *managerdata.Data {
	t.Helper()
	dir := CorpusDir(t, "manager")
	corpusManagerOnce.Do(func() {
		m := managerdata.New(managerdata.Options{SeedDir: dir})
		if err := m.Load(context.Background()); err != nil {
			t.Fatalf("load manager data: %v", err)
		}
		corpusManager = m
	})
	return corpusManager
}

// AddWorkflowSeeds adds every workflow of testdata/workflows to the fuzz corpus, wrapped in
// {"workflow_json": ...} when wrap is set.
func AddWorkflowSeeds(f *testing.F, wrap bool) {
	files, _ := filepath.Glob(Testdata("workflows", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if wrap {
			b = append(append([]byte(`{"workflow_json":`), b...), '}')
		}
		f.Add(b)
	}
}

// ReportCPU adds a cpu-ns/op metric: the process's CPU time (client and server together) per
// iteration, which a loaded machine disturbs far less than wall time. Call the result after
// the loop (defer ReportCPU(b)()).
func ReportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
