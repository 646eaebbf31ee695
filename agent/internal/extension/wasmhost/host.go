// Package wasmhost is the WASM transport of the extension registry: it loads modules built
// for the cmfy WASM ABI v1 (research/plugins.md §1.3) with wazero and serves their
// capabilities as sdk/extension interfaces.
//
// Sandbox: no file system, no environment, no arguments, no network (wasip1 has no sockets);
// real clocks and crypto/rand; stdout and stderr go to slog tagged with the extension. Limits:
// memory pages per instance, a deadline per call enforced with WithCloseOnContextDone, caps on
// input and output bytes. Instances live in a small pool; any instance that trapped, exited,
// ran out of memory or time is discarded and the next call gets a fresh one. Compiled code
// is cached on disk (<data_dir>/wasm-cache) so a restart loads a module in tens of
// milliseconds instead of a second or more.
package wasmhost

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/comfylauncher/launcher/agent/internal/extension"
)

// Defaults for limits an [[extensions]] entry leaves at zero.
const (
	DefaultMemoryMB       = 64
	DefaultTimeout        = 2 * time.Second
	DefaultInitTimeout    = 5 * time.Second
	DefaultMaxOutputBytes = 4 << 20
	DefaultMaxInputBytes  = 16 << 20
	// DefaultInstances bounds the instances of one module (and so its concurrent calls).
	DefaultInstances = 4
	// DefaultMaxCallsPerInstance recycles an instance: Go's wasm heap never shrinks.
	DefaultMaxCallsPerInstance = 10000
)

// Options configures a Host.
type Options struct {
	// CacheDir holds compiled modules; "" compiles in memory on every load.
	CacheDir string
	// HostVersion is sent to each module's cmfy_init.
	HostVersion string
	Logger      *slog.Logger
	// Instances and MaxCallsPerInstance default to DefaultInstances and
	// DefaultMaxCallsPerInstance.
	Instances           int
	MaxCallsPerInstance int
	MaxInputBytes       int
}

// Host opens WASM extensions. One Host serves every module; it owns the compilation cache.
type Host struct {
	opts  Options
	cache wazero.CompilationCache
	log   *slog.Logger

	mu      sync.Mutex
	modules []*Module
}

var _ extension.Opener = (*Host)(nil)

// New returns a Host; it creates opts.CacheDir when set.
func New(opts Options) (*Host, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Instances <= 0 {
		opts.Instances = DefaultInstances
	}
	if opts.MaxCallsPerInstance <= 0 {
		opts.MaxCallsPerInstance = DefaultMaxCallsPerInstance
	}
	if opts.MaxInputBytes <= 0 {
		opts.MaxInputBytes = DefaultMaxInputBytes
	}
	h := &Host{opts: opts, log: opts.Logger}
	if opts.CacheDir != "" {
		if err := os.MkdirAll(opts.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("create wasm cache: %w", err)
		}
		c, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("open wasm cache %s: %w", opts.CacheDir, err)
		}
		h.cache = c
	} else {
		h.cache = wazero.NewCompilationCache()
	}
	return h, nil
}

// Close closes every module the host opened and the compilation cache.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	mods := h.modules
	h.modules = nil
	h.mu.Unlock()
	for _, m := range mods {
		_ = m.Close(ctx)
	}
	return h.cache.Close(ctx)
}

// wasmMagic starts every WebAssembly binary.
var wasmMagic = []byte{0x00, 'a', 's', 'm'}

// Open loads spec.Path: it checks that the file is WebAssembly, compiles it (or loads it from
// the cache), checks its exports and imports, starts one instance eagerly, checks the ABI
// version, runs cmfy_init with the config and checks the manifest against the exports.
func (h *Host) Open(ctx context.Context, spec extension.Spec) (extension.Loaded, error) {
	bin, err := os.ReadFile(spec.Path)
	if err != nil {
		return nil, fmt.Errorf("read module: %w", err)
	}
	if !bytes.HasPrefix(bin, wasmMagic) {
		head := bin[:min(len(bin), 8)]
		return nil, fmt.Errorf("%s is not a WebAssembly module (it starts with %q, not \"\\x00asm\"): build it with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared", spec.Path, head)
	}
	m, err := newModule(ctx, h, spec, bin)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.modules = append(h.modules, m)
	h.mu.Unlock()
	return m, nil
}

func (h *Host) forget(m *Module) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.modules {
		if x == m {
			h.modules = append(h.modules[:i], h.modules[i+1:]...)
			return
		}
	}
}
