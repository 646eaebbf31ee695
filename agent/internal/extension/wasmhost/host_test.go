package wasmhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/agent/internal/extension/wasmtest"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// modules are built once per test binary; cacheDir is shared by tests that do not test the
// cache, so each module compiles once.
var (
	modules  map[string]string
	cacheDir string
)

func TestMain(m *testing.M) {
	wasmtest.Main(m, func(dir string, mods map[string]string) {
		modules, cacheDir = mods, filepath.Join(dir, "cache")
	})
}

// logBuffer collects log records for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func open(t testing.TB, name string, lim extension.Limits, config string) (*Module, *logBuffer, error) {
	t.Helper()
	h, err := New(Options{CacheDir: cacheDir, HostVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	logs := &logBuffer{}
	spec := extension.Spec{ID: "wasm." + name, Name: name, Path: modules[name], Limits: lim,
		Config: json.RawMessage(config), Logger: slog.New(slog.NewTextHandler(logs, nil)).With("extension", "wasm."+name)}
	l, err := h.Open(context.Background(), spec)
	if err != nil {
		return nil, logs, err
	}
	return l.(*Module), logs, nil
}

func mustOpen(t testing.TB, name string, lim extension.Limits, config string) (*Module, *logBuffer) {
	t.Helper()
	m, logs, err := open(t, name, lim, config)
	if err != nil {
		t.Fatal(err)
	}
	return m, logs
}

func decide(m *Module, msg string) (sdk.StrategyDecision, error) {
	return m.Decide(context.Background(), sdk.StrategyInput{Class: "unknown", Message: "failed: hostile-" + msg})
}

func TestHostileGuests(t *testing.T) {
	t.Parallel()
	// Only the loop case runs against a short deadline; the others get a long one so that a
	// busy machine cannot turn a crash into a timeout.
	m, logs := mustOpen(t, "hostile", extension.Limits{Timeout: time.Minute, MemoryMB: 32, MaxOutputBytes: 1 << 20}, "")
	short, _ := mustOpen(t, "hostile", extension.Limits{Timeout: 200 * time.Millisecond}, "")
	works := func(t *testing.T, m *Module) {
		t.Helper()
		d, err := decide(m, "hi")
		if err != nil || d.Class != "echo:failed: hostile-hi" {
			t.Fatalf("next call: %+v, %v", d, err)
		}
	}
	cases := []struct {
		msg  string
		want func(error) bool
		text string
	}{
		{"loop", func(err error) bool { return errors.Is(err, extension.ErrTimeout) }, "killed after"},
		{"oom", func(err error) bool { return errors.Is(err, ErrCrashed) }, "out of memory"},
		{"big", func(err error) bool { return errors.Is(err, ErrCrashed) }, "over max_output_bytes"},
		{"exit", func(err error) bool { return errors.Is(err, ErrCrashed) }, "exited with code 3"},
		{"panic", func(err error) bool { var e *sdk.Error; return errors.As(err, &e) && e.Code == "panic" }, "boom"},
		{"error", func(err error) bool { var e *sdk.Error; return errors.As(err, &e) && e.Code == "nope" && e.Retryable }, "refused on purpose"},
	}
	for _, c := range cases {
		t.Run(c.msg, func(t *testing.T) {
			mod := m
			if c.msg == "loop" {
				mod = short
			}
			_, err := decide(mod, c.msg)
			if err == nil || !c.want(err) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.text)
			}
			works(t, mod)
		})
	}
	t.Run("sandbox", func(t *testing.T) {
		d, err := decide(m, "sandbox")
		if err != nil {
			t.Fatal(err)
		}
		year := time.Now().Year()
		if d.Suggestion != fmt.Sprintf("year=%d home= read_err=true", year) {
			t.Errorf("sandbox report %q: want a real clock, no environment and no file system", d.Suggestion)
		}
	})
	t.Run("log", func(t *testing.T) {
		if _, err := decide(m, "log"); err != nil {
			t.Fatal(err)
		}
		out := logs.String()
		for _, want := range []string{"hello from the guest", "to stderr", "extension=wasm.hostile"} {
			if !strings.Contains(out, want) {
				t.Errorf("logs lack %q:\n%s", want, out)
			}
		}
	})
	if _, err := m.ParseWorkflow(context.Background(), sdk.ParseRequest{}); !errors.Is(err, ErrNotDeclared) {
		t.Errorf("undeclared capability: %v", err)
	}
}

func TestRefusedModules(t *testing.T) {
	t.Parallel()
	notWasm := filepath.Join(t.TempDir(), "notwasm.wasm")
	if err := os.WriteFile(notWasm, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, config string
		lim                extension.Limits
		want               string
	}{
		{"wrong abi", modules["badabi"], "", extension.Limits{}, "speaks cmfy ABI v2"},
		{"missing export", modules["noexport"], "", extension.Limits{}, "declares model_source but the module does not export cmfy_model_resolve"},
		{"not wasm", notWasm, "", extension.Limits{}, "is not a WebAssembly module"},
		{"memory under the module's minimum", modules["classify"], "", extension.Limits{MemoryMB: 1}, "over limit"},
		{"bad config", modules["mirror"], `{"mirror":"https://m","typo":1}`, extension.Limits{}, "unknown field"},
	}
	h, err := New(Options{CacheDir: cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.Open(context.Background(), extension.Spec{ID: "wasm.x", Path: c.path, Limits: c.lim, Config: json.RawMessage(c.config)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestShippedModules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mir := mustOpen2(t, "mirror", `{"mirror":"https://mirror.example/m"}`)
	r, err := mir.ResolveModel(ctx, sdk.ResolveRequest{Reference: "hf:org/repo/a.safetensors"})
	if err != nil || len(r.Candidates) != 1 || r.Candidates[0].URL != "https://mirror.example/m/huggingface/org/repo/resolve/main/a.safetensors" {
		t.Errorf("mirror: %+v %v", r, err)
	}
	hn := mustOpen2(t, "housenodes", `{"loaders":[{"node_type":"AcmeLoader","input":"ckpt","folder":"checkpoints"}]}`)
	p, err := hn.ParseWorkflow(ctx, sdk.ParseRequest{Nodes: []sdk.WorkflowNode{{ID: "1", Type: "AcmeLoader", Inputs: map[string]any{"ckpt": "a.safetensors"}}}})
	if err != nil || len(p.Models) != 1 || p.Models[0].Folder != "checkpoints" {
		t.Errorf("housenodes: %+v %v", p, err)
	}
	cl := mustOpen2(t, "classify", "")
	d, err := cl.Decide(ctx, sdk.StrategyInput{Class: "unknown", Message: "ERROR: No matching distribution found for x"})
	if err != nil || d.Class != "not_found" || d.Retry {
		t.Errorf("classify: %+v %v", d, err)
	}
	if got := cl.Manifest(); got.Name != "classify" || !got.Has(sdk.CapRecoveryStrategy) || got.Has(sdk.CapModelSource) {
		t.Errorf("manifest = %+v", got)
	}
}

func mustOpen2(t *testing.T, name, config string) *Module {
	m, _ := mustOpen(t, name, extension.Limits{}, config)
	return m
}

func TestConcurrentCallsShareThePool(t *testing.T) {
	t.Parallel()
	m := mustOpen2(t, "classify", "")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				d, err := m.Decide(context.Background(), sdk.StrategyInput{Class: "unknown", Message: "Could not resolve host: x"})
				if err != nil || d.Class != "network" {
					errs <- fmt.Errorf("%+v %v", d, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(m.slots); n > DefaultInstances {
		t.Errorf("%d live instances, over the pool bound %d", n, DefaultInstances)
	}
}

// TestRestartLoadsFromTheCache opens a module in a fresh cache, then again in a new Host on the
// same directory (an agent restart): the second load must reuse the cache, adding no entry.
func TestRestartLoadsFromTheCache(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	load := func() {
		h, err := New(Options{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(context.Background())
		if _, err := h.Open(context.Background(), extension.Spec{ID: "wasm.classify", Path: modules["classify"]}); err != nil {
			t.Fatal(err)
		}
	}
	load()
	first := cacheFiles(t, dir)
	if len(first) == 0 {
		t.Fatal("the first load wrote nothing to the compilation cache")
	}
	load()
	if second := cacheFiles(t, dir); !equal(first, second) {
		t.Errorf("the restart compiled again: cache %v became %v", first, second)
	}
}

func cacheFiles(t *testing.T, dir string) map[string]time.Time {
	out := map[string]time.Time{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			out[p] = fi.ModTime()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equal(a, b map[string]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !b[k].Equal(v) {
			return false
		}
	}
	return true
}
