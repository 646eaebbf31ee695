package bind

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/managerdata"
	"github.com/comfylauncher/launcher/agent/internal/project"
	"github.com/comfylauncher/launcher/agent/internal/project/projecthttp"
	"github.com/comfylauncher/launcher/agent/internal/store"
	"github.com/comfylauncher/launcher/agent/internal/workflow"
	"github.com/comfylauncher/launcher/agent/internal/workflow/workflowtest"
	"github.com/julienschmidt/httprouter"
)

// sharedCorpus is the team's shared corpus, a sibling of the repository.
const sharedCorpus = "../../../../../shared/corpus"

// BenchmarkImportProject4MB: POST /api/import_project over loopback HTTP with a 4 MB workflow
// (the corpus' UI workflows merged, workflowtest.Merged), through the real handler, workflow
// service (with the corpus' Manager data), project manager and store. Each iteration creates
// one project; its install fails at once (the ComfyUI repository is missing), as an offline
// one would. Reported besides time: the heap allocated per import and the heap the process took from the OS (about its peak).
// scripts/bench/import.sh measures the same body against the built agent, with its RSS.
func BenchmarkImportProject4MB(b *testing.B) {
	if _, err := os.Stat(sharedCorpus); err != nil {
		b.Skipf("shared corpus %s not present: %v", sharedCorpus, err)
	}
	wf, err := workflowtest.Merged(filepath.Join(sharedCorpus, "workflows"), 4<<20)
	if err != nil {
		b.Fatal(err)
	}
	md := managerdata.New(managerdata.Options{SeedDir: filepath.Join(sharedCorpus, "manager")})
	if err := md.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	data := b.TempDir()
	db, err := store.Open(filepath.Join(data, "db"), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	m := project.New(project.Deps{Store: db, Importer: Importer{Service: workflow.NewService(workflow.Options{Manager: md})}},
		project.Options{DataDir: data, ModelsDir: filepath.Join(data, "models"), Repo: filepath.Join(data, "no-such-repo"), ReconcileInterval: -1})
	if err := m.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Stop(context.Background()) })
	r := httprouter.New()
	projecthttp.Routes(r, m, 0)
	srv := httptest.NewServer(r)
	b.Cleanup(srv.Close)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.SetBytes(int64(len(wf)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		i++
		body, err := workflowtest.ImportBody(fmt.Sprintf("big-%d", i), wf)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := http.Post(srv.URL+"/api/import_project", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("import: %d %s", resp.StatusCode, out)
		}
	}
	// CPU time (the handler's and the background install's) disturbs less than wall time
	// on a loaded machine.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapSys)/(1<<20), "heap-sys-MiB")
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
