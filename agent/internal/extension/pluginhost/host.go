// Package pluginhost is the go-plugin transport of the extension registry: it runs a plugin
// binary built with sdk/plugin as a child process and serves its capabilities over gRPC as
// sdk/extension interfaces (research/plugins.md §2).
//
// What it enforces: gRPC only, protocol versions negotiated (VersionedPlugins), mutual TLS on
// the connection (AutoMTLS), the binary's sha256 checked before every exec (SecureConfig, on
// top of the registry's own check), an explicit environment (BaseEnv plus the token variable
// the plugin's config names, nothing else), the plugin's stderr into slog tagged with the
// plugin, and a deadline on every call (the [[extensions]] limits.timeout).
//
// Supervision: a plugin whose process exits is down — its calls fail at once with ErrDown
// naming why — and is started again after a backoff. One that keeps crashing (more than
// MaxCrashes within CrashWindow) is failed for good with the reason. The process dies with
// the agent: Close stops it, and on Linux the kernel kills it if the agent is killed (the SDK
// also exits when its parent goes away). Plugins are not re-attached after an agent restart:
// that does not work with AutoMTLS, and a plugin starts in tens of milliseconds.
package pluginhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/extension"
)

// Defaults for what Options and an [[extensions]] entry leave at zero.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultStartTimeout = 10 * time.Second
	DefaultMaxCrashes   = 5
	DefaultCrashWindow  = 5 * time.Minute
)

// Errors of a call, besides the plugin's own *extension.Error.
var (
	// ErrDown: the plugin process is not running; it is being restarted.
	ErrDown = errors.New("plugin is down")
	// ErrFailed: the plugin kept crashing and is no longer restarted.
	ErrFailed = errors.New("plugin failed")
	// ErrCrashed: the plugin process died or dropped the connection during the call.
	ErrCrashed = errors.New("plugin process died during the call")
	// ErrNotDeclared: the plugin's manifest does not declare the capability called.
	ErrNotDeclared = errors.New("capability not declared by the plugin")
)

// Options configures a Host.
type Options struct {
	// HostVersion is sent to each plugin's Configure.
	HostVersion string
	Logger      *slog.Logger
	// Env names the agent's variables every plugin gets; nil means BaseEnv.
	Env []string
	// LookupEnv reads the agent's environment (default os.LookupEnv).
	LookupEnv func(string) (string, bool)
	// StartTimeout bounds starting one process up to a configured plugin.
	StartTimeout time.Duration
	// Backoff is the wait before restart attempt n (1, 2, ...); default exponential from
	// 250 ms to 30 s.
	Backoff func(attempt int) time.Duration
	// After is the clock the backoff waits on (default time.After).
	After func(time.Duration) <-chan time.Time
	// Now is the clock crashes are counted on (default time.Now).
	Now func() time.Time
	// MaxCrashes within CrashWindow mark a plugin failed (defaults 5 in 5 minutes).
	MaxCrashes  int
	CrashWindow time.Duration
}

// DefaultBackoff doubles from 250 ms up to 30 s.
func DefaultBackoff(attempt int) time.Duration {
	d := 250 * time.Millisecond
	for i := 1; i < attempt && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

// Host opens plugins. One Host serves every plugin of an agent.
type Host struct {
	opts Options

	mu      sync.Mutex
	plugins map[*Plugin]bool
}

var _ extension.Opener = (*Host)(nil)

// New returns a Host.
func New(opts Options) *Host {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Env == nil {
		opts.Env = BaseEnv
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxCrashes <= 0 {
		opts.MaxCrashes = DefaultMaxCrashes
	}
	if opts.CrashWindow <= 0 {
		opts.CrashWindow = DefaultCrashWindow
	}
	return &Host{opts: opts, plugins: map[*Plugin]bool{}}
}

// wasmMagic starts every WebAssembly module.
var wasmMagic = []byte{0x00, 'a', 's', 'm'}

// Open starts the plugin at spec.Path, negotiates the protocol, asks for its manifest and
// configures it, then supervises it until Close.
func (h *Host) Open(ctx context.Context, spec extension.Spec) (extension.Loaded, error) {
	if err := checkExecutable(spec.Path); err != nil {
		return nil, err
	}
	names, err := configEnv(spec.Config)
	if err != nil {
		return nil, err
	}
	p := newPlugin(h, spec, environ(append(append([]string{}, h.opts.Env...), names...), h.opts.LookupEnv))
	if err := p.open(ctx); err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.plugins[p] = true
	h.mu.Unlock()
	return p, nil
}

// Close stops every plugin the host started.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	ps := make([]*Plugin, 0, len(h.plugins))
	for p := range h.plugins {
		ps = append(ps, p)
	}
	h.mu.Unlock()
	var errs []error
	for _, p := range ps {
		errs = append(errs, p.Close(ctx))
	}
	return errors.Join(errs...)
}

func (h *Host) forget(p *Plugin) {
	h.mu.Lock()
	delete(h.plugins, p)
	h.mu.Unlock()
}

// checkExecutable refuses what cannot be a plugin binary, with what to do instead.
func checkExecutable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open plugin: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat plugin: %w", err)
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory, not a plugin binary", path)
	}
	head := make([]byte, 4)
	n, _ := f.Read(head)
	if bytes.Equal(head[:n], wasmMagic) {
		return fmt.Errorf("%s is a WebAssembly module, not a plugin binary: load it with transport = \"wasm\"", path)
	}
	if st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable: chmod +x it (a plugin is a program built with sdk/plugin.Serve)", path)
	}
	return nil
}
