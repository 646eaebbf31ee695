package extension

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// Transport is how an extension runs.
type Transport string

// The transports.
const (
	TransportBuiltin Transport = "builtin"
	TransportWASM    Transport = "wasm"
	TransportPlugin  Transport = "plugin"
)

// State is an extension's state in the registry.
type State string

// The states. A loaded extension is asked; failed, disabled and down ones are not.
const (
	StateLoaded   State = "loaded"
	StateFailed   State = "failed"
	StateDisabled State = "disabled"
	// StateDown: a plugin whose process exited; its transport is restarting it (it turns
	// loaded again, or failed if it keeps crashing).
	StateDown State = "down"
)

// Errors the registry returns.
var (
	// ErrConflict: an extension with that id is already registered.
	ErrConflict = errors.New("extension id already registered")
	// ErrTimeout: a call ran past its deadline. Transports wrap it so statistics count timeouts.
	ErrTimeout = errors.New("extension call timed out")
	// ErrHashMismatch: the file's sha256 is not the configured one.
	ErrHashMismatch = errors.New("extension file sha256 mismatch")
)

// ID returns the registry id of an extension called name on transport t.
func ID(t Transport, name string) string { return string(t) + "." + name }

// CanonicalID turns an id from an order list into a registry id: a bare name ("huggingface")
// means the built-in of that name.
func CanonicalID(s string) string {
	s = strings.TrimSpace(s)
	if strings.Contains(s, ".") {
		return s
	}
	return ID(TransportBuiltin, s)
}

// Info describes an extension.
type Info struct {
	// ID is "<transport>.<name>".
	ID           string
	Version      string
	Transport    Transport
	Capabilities []sdk.Capability
	// Path is the module or binary a WASM or plugin extension was loaded from.
	Path string
}

// Lifecycle hooks an extension may implement (Caddy's Provisioner/Validator/CleanerUpper).
type (
	// Provisioner sets an extension up (connects, loads tables) after its config is decoded.
	Provisioner interface {
		Provision(ctx context.Context) error
	}
	// Validator checks a provisioned extension before it is used.
	Validator interface{ Validate() error }
	// Closer releases what an extension holds.
	Closer interface {
		Close(ctx context.Context) error
	}
)

// Limits bound what one extension may use. Zero fields mean the transport's default.
type Limits struct {
	MemoryMB       int
	Timeout        time.Duration
	MaxOutputBytes int
}

// Spec is what a transport needs to open one configured extension.
type Spec struct {
	// ID is the registry id ("wasm.<name>"); Name the [[extensions]] name.
	ID     string
	Name   string
	Path   string
	SHA256 string
	// Config is the extension's config table as JSON, handed to it at init.
	Config json.RawMessage
	Limits Limits
	// Logger is tagged with the extension's id.
	Logger *slog.Logger
	// Report lets the transport change the extension's state after it loaded (a plugin that
	// crashed is failed until it is back). Never nil once the registry calls Open.
	Report func(State, error)
}

// Loaded is an opened extension. Besides Manifest and Close it implements the sdk interface
// of every capability its manifest declares (sdk.WorkflowParser, sdk.ModelSource,
// sdk.RecoveryStrategy); Registry.Load checks that.
type Loaded interface {
	Manifest() sdk.Manifest
	Close(ctx context.Context) error
}

// Opener is a transport: it constructs, configures, provisions and validates an extension from
// its Spec. The registry has verified Spec.SHA256 against the file before Open is called.
type Opener interface {
	Open(ctx context.Context, spec Spec) (Loaded, error)
}

// Status is what the registry tells about one extension (the body of GET /api/extensions/{id}).
type Status struct {
	ID           string           `json:"id"`
	Version      string           `json:"version"`
	Transport    Transport        `json:"transport"`
	Capabilities []sdk.Capability `json:"capabilities"`
	State        State            `json:"state"`
	LastError    string           `json:"last_error,omitempty"`
	LastErrorAt  *time.Time       `json:"last_error_at,omitempty"`
	Path         string           `json:"path,omitempty"`
	Stats        Stats            `json:"stats"`
}

// Registry holds every extension. It is safe for concurrent use.
type Registry struct {
	log *slog.Logger
	now func() time.Time

	mu       sync.RWMutex
	entries  []*Entry
	byID     map[string]*Entry
	order    map[sdk.Capability][]string
	onChange []func(Status)
}

// Options configures a Registry.
type Options struct {
	Logger *slog.Logger
	// Now is the clock for error timestamps (default time.Now).
	Now func() time.Time
}

// New returns an empty registry.
func New(opts Options) *Registry {
	r := &Registry{log: opts.Logger, now: opts.Now, byID: map[string]*Entry{}, order: map[sdk.Capability][]string{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// EventExtensionUpdate is published (to every client) when an extension is added or changes
// state; its payload is the extension's Status.
const EventExtensionUpdate = "extension_update"

// OnChange registers fn to be called after an extension is added or changes state (the app
// publishes it as an event). fn must not block.
func (r *Registry) OnChange(fn func(Status)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onChange = append(r.onChange, fn)
}

// Register adds an in-process extension (a built-in) that is already constructed and
// configured: it runs impl's Provision and Validate when it has them. A provision or
// validation failure leaves the extension failed (and returns the error); a conflicting id is
// refused with ErrConflict and nothing is added.
func (r *Registry) Register(ctx context.Context, info Info, impl any) (*Entry, error) {
	if err := checkID(info); err != nil {
		return nil, err
	}
	e := newEntry(r, info)
	if err := r.add(e); err != nil {
		return nil, err
	}
	err := provision(ctx, impl)
	if err != nil {
		e.setState(StateFailed, err)
		r.log.Warn("extension failed to start; carrying on without it", "extension", info.ID, "err", err)
		return e, err
	}
	e.loaded(impl)
	return e, nil
}

func provision(ctx context.Context, impl any) error {
	if p, ok := impl.(Provisioner); ok {
		if err := p.Provision(ctx); err != nil {
			return fmt.Errorf("provision: %w", err)
		}
	}
	if v, ok := impl.(Validator); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("validate: %w", err)
		}
	}
	return nil
}

// AddDisabled records an extension the configuration turned off, so that it is listed.
func (r *Registry) AddDisabled(info Info) (*Entry, error) {
	if err := checkID(info); err != nil {
		return nil, err
	}
	e := newEntry(r, info)
	e.state = StateDisabled
	if err := r.add(e); err != nil {
		return nil, err
	}
	r.changed(e)
	return e, nil
}

// Load opens a configured extension through transport t: it verifies the file's sha256 (when
// spec.SHA256 is set) before anything is compiled or run, opens it, and checks that it
// implements every capability its manifest declares. The extension is always listed: loaded,
// or failed with the reason (also returned). Only an id conflict adds nothing.
func (r *Registry) Load(ctx context.Context, t Transport, op Opener, spec Spec) (*Entry, error) {
	info := Info{ID: spec.ID, Transport: t, Path: spec.Path}
	if err := checkID(info); err != nil {
		return nil, err
	}
	e := newEntry(r, info)
	if err := r.add(e); err != nil {
		return nil, err
	}
	spec.Report = e.setState
	if spec.Logger == nil {
		spec.Logger = r.log
	}
	spec.Logger = spec.Logger.With("extension", spec.ID)
	fail := func(err error) (*Entry, error) {
		e.setState(StateFailed, err)
		r.log.Warn("extension failed to load; the built-ins carry on", "extension", spec.ID, "path", spec.Path, "err", err)
		return e, err
	}
	if spec.SHA256 != "" {
		if err := VerifySHA256(spec.Path, spec.SHA256); err != nil {
			return fail(err)
		}
	}
	l, err := op.Open(ctx, spec)
	if err != nil {
		return fail(err)
	}
	m := l.Manifest()
	if err := CheckImplements(m, l); err != nil {
		_ = l.Close(ctx)
		return fail(err)
	}
	e.mu.Lock()
	e.info.Version = m.Version
	e.info.Capabilities = slices.Clone(m.Capabilities)
	e.closer = l
	e.mu.Unlock()
	e.loaded(l)
	return e, nil
}

// CheckImplements reports a declared capability that impl does not implement.
func CheckImplements(m sdk.Manifest, impl any) error {
	for _, c := range m.Capabilities {
		var ok bool
		switch c {
		case sdk.CapWorkflowParser:
			_, ok = impl.(sdk.WorkflowParser)
		case sdk.CapModelSource:
			_, ok = impl.(sdk.ModelSource)
		case sdk.CapRecoveryStrategy:
			_, ok = impl.(sdk.RecoveryStrategy)
		default:
			return fmt.Errorf("manifest declares unknown capability %q (known: %v)", c, sdk.Capabilities)
		}
		if !ok {
			return fmt.Errorf("manifest declares %s but the extension does not implement it", c)
		}
	}
	return nil
}

// VerifySHA256 compares path's sha256 with want (hex, case-insensitive); a mismatch names both.
func VerifySHA256(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if !strings.EqualFold(got, strings.TrimSpace(want)) {
		return fmt.Errorf("%w: %s has sha256 %s but launcher.toml expects %s (refusing to run it; if the file was updated on purpose, put its new hash in sha256)",
			ErrHashMismatch, path, got, strings.ToLower(strings.TrimSpace(want)))
	}
	return nil
}

func checkID(info Info) error {
	prefix := string(info.Transport) + "."
	name, ok := strings.CutPrefix(info.ID, prefix)
	if !ok || name == "" || strings.ContainsAny(name, " /\\") {
		return fmt.Errorf("extension id %q must be %q followed by a name", info.ID, prefix)
	}
	return nil
}

func (r *Registry) add(e *Entry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.byID[e.info.ID]; dup {
		return fmt.Errorf("%w: %s (the first registration stays; give the new one another name)", ErrConflict, e.info.ID)
	}
	r.byID[e.info.ID] = e
	r.entries = append(r.entries, e)
	return nil
}

func (r *Registry) changed(e *Entry) {
	r.mu.RLock()
	fns := slices.Clone(r.onChange)
	r.mu.RUnlock()
	st := e.Status()
	for _, fn := range fns {
		fn(st)
	}
}

// SetOrder configures the order capability c is asked in (exhaustive; see the package doc).
// nil restores the default order.
func (r *Registry) SetOrder(c sdk.Capability, ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ids == nil {
		delete(r.order, c)
		return
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, CanonicalID(id))
	}
	r.order[c] = out
}

// Ordered returns the loaded extensions that have capability c, in the order they are asked.
func (r *Registry) Ordered(c sdk.Capability) []*Entry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*Entry
	if ids, ok := r.order[c]; ok {
		for _, id := range ids {
			if e := r.byID[id]; e != nil && e.usable(c) {
				out = append(out, e)
			}
		}
		return out
	}
	for _, builtin := range []bool{false, true} {
		for _, e := range r.entries {
			if (e.info.Transport == TransportBuiltin) == builtin && e.usable(c) {
				out = append(out, e)
			}
		}
	}
	return out
}

// Get returns the extension with that id.
func (r *Registry) Get(id string) (*Entry, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.byID[id]
	return e, ok
}

// List returns every extension's status in registration order.
func (r *Registry) List() []Status {
	r.mu.RLock()
	entries := slices.Clone(r.entries)
	r.mu.RUnlock()
	out := make([]Status, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.Status())
	}
	return out
}

// Stats returns each extension's call statistics by id (for metrics).
func (r *Registry) Stats() map[string]Stats {
	r.mu.RLock()
	entries := slices.Clone(r.entries)
	r.mu.RUnlock()
	out := make(map[string]Stats, len(entries))
	for _, e := range entries {
		out[e.info.ID] = e.stats.snapshot()
	}
	return out
}

// Warnings lists what an operator should fix: failed extensions and order entries that name
// nothing loaded.
func (r *Registry) Warnings() []string {
	var w []string
	for _, s := range r.List() {
		switch s.State {
		case StateFailed:
			w = append(w, fmt.Sprintf("extension %s failed: %s", s.ID, s.LastError))
		case StateDown:
			w = append(w, fmt.Sprintf("extension %s is down and being restarted: %s", s.ID, s.LastError))
		}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, c := range sdk.Capabilities {
		for _, id := range r.order[c] {
			e := r.byID[id]
			switch {
			case e == nil:
				w = append(w, fmt.Sprintf("%s order names %s, which is not registered", c, id))
			case e.State() == StateLoaded && !e.has(c):
				w = append(w, fmt.Sprintf("%s order names %s, which is not a %s", c, id, c))
			}
		}
	}
	return w
}

// Health is the registry's /api/health component: degraded while an extension is failed.
func (r *Registry) Health() (bool, any) {
	counts := map[State]int{}
	for _, s := range r.List() {
		counts[s.State]++
	}
	w := r.Warnings()
	return counts[StateFailed] == 0, map[string]any{
		"loaded": counts[StateLoaded], "failed": counts[StateFailed], "disabled": counts[StateDisabled],
		"warnings": append([]string{}, w...),
	}
}

// Close closes every extension, newest first.
func (r *Registry) Close(ctx context.Context) error {
	r.mu.RLock()
	entries := slices.Clone(r.entries)
	r.mu.RUnlock()
	var errs []error
	for i := len(entries) - 1; i >= 0; i-- {
		if err := entries[i].close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", entries[i].info.ID, err))
		}
	}
	return errors.Join(errs...)
}

// Failure is one extension that failed while answering a request that others answered; the
// API returns it so a user sees which extension failed and why instead of silently fewer
// answers.
type Failure struct {
	Extension string `json:"extension"`
	Error     string `json:"error"`
}
