package wasmhost

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// wasmPage is the WebAssembly page size.
const wasmPage = 64 << 10

// Errors a call can end with, besides the guest's own *sdk.Error.
var (
	// ErrCrashed: the instance trapped, exited or broke the ABI; it was discarded.
	ErrCrashed = errors.New("wasm instance crashed")
	// ErrNotDeclared: the module's manifest does not declare the capability called.
	ErrNotDeclared = errors.New("capability not declared by the module")
)

// Module is one loaded WASM extension. It implements sdk.WorkflowParser, sdk.ModelSource and
// sdk.RecoveryStrategy; a call to a capability the manifest does not declare fails with
// ErrNotDeclared.
type Module struct {
	host     *Host
	id       string
	log      *slog.Logger
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	initReq  []byte
	timeout  time.Duration
	maxOut   int
	maxIn    int
	maxCalls int
	manifest sdk.Manifest

	// slots bounds live instances (one token per instance); idle holds those ready for a
	// call and has room for all of them, so returning one never blocks.
	slots chan struct{}
	idle  chan *instance
	mu    sync.Mutex
	done  bool
}

type instance struct {
	mod   api.Module
	calls int
	// stderr is the instance's stderr, kept for the last line a crash reports.
	stderr *lineWriter
	// fns caches exported functions: ExportedFunction builds a new call engine (with its own
	// stack) each time. An instance serves one call at a time, so they are never shared.
	fns map[string]api.Function
}

func (i *instance) fn(name string) api.Function {
	f, ok := i.fns[name]
	if !ok {
		f = i.mod.ExportedFunction(name)
		i.fns[name] = f
	}
	return f
}

var _ extension.Loaded = (*Module)(nil)

func newModule(ctx context.Context, h *Host, spec extension.Spec, bin []byte) (*Module, error) {
	lim := spec.Limits
	if lim.MemoryMB <= 0 {
		lim.MemoryMB = DefaultMemoryMB
	}
	if lim.Timeout <= 0 {
		lim.Timeout = DefaultTimeout
	}
	if lim.MaxOutputBytes <= 0 {
		lim.MaxOutputBytes = DefaultMaxOutputBytes
	}
	log := spec.Logger
	if log == nil {
		log = h.log.With("extension", spec.ID)
	}
	cfg := spec.Config
	if len(cfg) == 0 {
		cfg = json.RawMessage("{}")
	}
	initReq, err := json.Marshal(sdk.InitRequest{HostVersion: h.opts.HostVersion, Config: cfg})
	if err != nil {
		return nil, fmt.Errorf("encode init request: %w", err)
	}
	rc := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(uint32(lim.MemoryMB * (1 << 20) / wasmPage)).
		WithCompilationCache(h.cache)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	m := &Module{host: h, id: spec.ID, log: log, rt: rt, initReq: initReq, timeout: lim.Timeout,
		maxOut: lim.MaxOutputBytes, maxIn: h.opts.MaxInputBytes, maxCalls: h.opts.MaxCallsPerInstance,
		slots: make(chan struct{}, h.opts.Instances), idle: make(chan *instance, h.opts.Instances)}
	fail := func(err error) (*Module, error) {
		_ = rt.Close(ctx)
		return nil, err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fail(fmt.Errorf("instantiate wasi: %w", err))
	}
	if err := instantiateHostModule(ctx, rt); err != nil {
		return fail(err)
	}
	// Compile on every core: a Go-built module is megabytes of wasm (one to two seconds cold).
	compiled, err := rt.CompileModule(experimental.WithCompilationWorkers(ctx, runtime.NumCPU()), bin)
	if err != nil {
		return fail(fmt.Errorf("compile: %w (memory_mb = %d; a standard Go module needs at least 4)", err, lim.MemoryMB))
	}
	m.compiled = compiled
	if err := checkShape(compiled); err != nil {
		return fail(err)
	}
	// One eager instance: a module that cannot start fails now, not on its first call.
	inst, err := m.instantiate(ctx)
	if err != nil {
		return fail(err)
	}
	m.slots <- struct{}{}
	m.idle <- inst
	if err := m.checkManifest(); err != nil {
		return fail(err)
	}
	return m, nil
}

// exportSig is an export's expected signature.
type exportSig struct{ params, results []api.ValueType }

var (
	sigVoid    = exportSig{}
	sigVersion = exportSig{results: []api.ValueType{api.ValueTypeI32}}
	sigCall    = exportSig{params: []api.ValueType{api.ValueTypeI32}, results: []api.ValueType{api.ValueTypeI32}}
)

// checkShape validates export signatures and imports before anything runs.
func checkShape(c wazero.CompiledModule) error {
	exports := c.ExportedFunctions()
	want := map[string]exportSig{"_initialize": sigVoid, sdk.ExportABIVersion: sigVersion, sdk.ExportInit: sigCall}
	for _, cap := range sdk.Capabilities {
		want[sdk.ExportFor(cap)] = sigCall
	}
	for _, name := range []string{"_initialize", sdk.ExportABIVersion, sdk.ExportInit} {
		if _, ok := exports[name]; !ok {
			hint := ""
			if name == "_initialize" {
				hint = " (build with -buildmode=c-shared, which makes a reactor module)"
			}
			return fmt.Errorf("module does not export %s%s: is it built with the cmfy SDK (sdk/wasm)?", name, hint)
		}
	}
	for name, sig := range want {
		def, ok := exports[name]
		if !ok {
			continue
		}
		if !slices.Equal(def.ParamTypes(), sig.params) || !slices.Equal(def.ResultTypes(), sig.results) {
			return fmt.Errorf("export %s has signature %s, want %s", name, sigString(def.ParamTypes(), def.ResultTypes()), sigString(sig.params, sig.results))
		}
	}
	for _, imp := range c.ImportedFunctions() {
		mod, name, _ := imp.Import()
		if mod != wasi_snapshot_preview1.ModuleName && mod != sdk.ImportModule {
			return fmt.Errorf("module imports %s.%s: only %s and %s are provided (no network, no host functions beyond the ABI)", mod, name, wasi_snapshot_preview1.ModuleName, sdk.ImportModule)
		}
	}
	return nil
}

func sigString(params, results []api.ValueType) string {
	name := func(ts []api.ValueType) string {
		var s []string
		for _, t := range ts {
			s = append(s, api.ValueTypeName(t))
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return name(params) + " -> " + name(results)
}

// instantiate starts a new instance: Go runtime init (_initialize), the ABI version check and
// cmfy_init, whose output is the manifest.
func (m *Module) instantiate(ctx context.Context) (*instance, error) {
	out := &lineWriter{log: m.log, stream: "stdout"}
	errw := &lineWriter{log: m.log, stream: "stderr"}
	cfg := wazero.NewModuleConfig().WithName("").
		WithStartFunctions("_initialize").
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStdout(out).WithStderr(errw)
	ictx, cancel := context.WithTimeout(context.WithValue(ctx, loggerKey{}, m.log), DefaultInitTimeout)
	defer cancel()
	mod, err := m.rt.InstantiateModule(ictx, m.compiled, cfg)
	if err != nil {
		return nil, m.crash("start", err, ictx, DefaultInitTimeout, errw)
	}
	inst := &instance{mod: mod, stderr: errw, fns: map[string]api.Function{}}
	res, err := inst.fn(sdk.ExportABIVersion).Call(ictx)
	if err != nil {
		_ = mod.Close(ctx)
		return nil, m.crash(sdk.ExportABIVersion, err, ictx, DefaultInitTimeout, errw)
	}
	if v := uint32(res[0]); v != sdk.ABIVersion {
		_ = mod.Close(ctx)
		return nil, fmt.Errorf("module speaks cmfy ABI v%d, this agent speaks v%d: rebuild it against this agent's sdk/wasm", v, sdk.ABIVersion)
	}
	raw, err := m.invoke(ictx, inst, sdk.ExportInit, m.initReq, DefaultInitTimeout)
	if err != nil {
		_ = mod.Close(ctx)
		return nil, fmt.Errorf("cmfy_init: %w", err)
	}
	var man sdk.Manifest
	if err := json.Unmarshal(raw, &man); err != nil {
		_ = mod.Close(ctx)
		return nil, fmt.Errorf("cmfy_init returned no manifest (%v): return {\"name\",\"version\",\"abi_minor\",\"capabilities\"}", err)
	}
	if m.manifest.Name == "" {
		m.manifest = man
	}
	return inst, nil
}

func (m *Module) checkManifest() error {
	man := m.manifest
	if man.Name == "" {
		return errors.New("manifest has no name: call wasm.SetInfo(name, version) in init()")
	}
	if len(man.Capabilities) == 0 {
		return errors.New("manifest declares no capability: register a parser, source or strategy in init()")
	}
	exports := m.compiled.ExportedFunctions()
	for _, c := range man.Capabilities {
		if !c.Valid() {
			return fmt.Errorf("manifest declares unknown capability %q (known: %v)", c, sdk.Capabilities)
		}
		if _, ok := exports[sdk.ExportFor(c)]; !ok {
			return fmt.Errorf("manifest declares %s but the module does not export %s", c, sdk.ExportFor(c))
		}
	}
	return nil
}

// Manifest is what the module's cmfy_init returned.
func (m *Module) Manifest() sdk.Manifest { return m.manifest }

// Close closes every instance and the module's runtime.
func (m *Module) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.done {
		m.mu.Unlock()
		return nil
	}
	m.done = true
	m.mu.Unlock()
	m.host.forget(m)
	return m.rt.Close(ctx) // closes the instances too
}

func (m *Module) closed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.done
}

// acquire takes an idle instance, or starts one while there is a free slot, or waits.
func (m *Module) acquire(ctx context.Context) (*instance, error) {
	if m.closed() {
		return nil, fmt.Errorf("module %s is closed", m.id)
	}
	select {
	case inst := <-m.idle:
		return inst, nil
	default:
	}
	select {
	case inst := <-m.idle:
		return inst, nil
	case m.slots <- struct{}{}:
		inst, err := m.instantiate(ctx)
		if err != nil {
			<-m.slots
			return nil, err
		}
		return inst, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a free instance: %w", ctx.Err())
	}
}

// release returns a healthy instance to the pool, or discards it and frees its slot.
func (m *Module) release(ctx context.Context, inst *instance, healthy bool) {
	inst.calls++
	if healthy && inst.calls < m.maxCalls && !m.closed() {
		m.idle <- inst
		return
	}
	_ = inst.mod.Close(ctx)
	<-m.slots
}

// call runs one capability export with input and returns its output.
func (m *Module) call(ctx context.Context, c sdk.Capability, input []byte) ([]byte, error) {
	if !m.manifest.Has(c) {
		return nil, fmt.Errorf("%w: %s does not declare %s", ErrNotDeclared, m.id, c)
	}
	if len(input) > m.maxIn {
		return nil, fmt.Errorf("request of %d bytes exceeds the %d-byte input limit", len(input), m.maxIn)
	}
	inst, err := m.acquire(ctx)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(context.WithValue(ctx, loggerKey{}, m.log), m.timeout)
	defer cancel()
	out, err := m.invoke(cctx, inst, sdk.ExportFor(c), input, m.timeout)
	var guestErr *sdk.Error
	m.release(ctx, inst, err == nil || errors.As(err, &guestErr))
	return out, err
}

// invoke calls export on inst. A guest error (status 1) comes back as *sdk.Error and leaves
// the instance healthy; anything else is an ErrCrashed (or extension.ErrTimeout).
func (m *Module) invoke(ctx context.Context, inst *instance, export string, input []byte, limit time.Duration) ([]byte, error) {
	st := &callState{input: input, maxOut: m.maxOut}
	inst.stderr.reset()
	res, err := inst.fn(export).Call(withState(ctx, st), uint64(len(input)))
	if err != nil {
		if st.overflow > 0 {
			return nil, fmt.Errorf("%w: %s wrote %d bytes, over max_output_bytes %d", ErrCrashed, export, st.overflow, m.maxOut)
		}
		return nil, m.crash(export, err, ctx, limit, inst.stderr)
	}
	switch uint32(res[0]) {
	case sdk.StatusOK:
		return st.output, nil
	case sdk.StatusError:
		ge := &sdk.Error{}
		if jerr := json.Unmarshal(st.output, ge); jerr != nil || (ge.Code == "" && ge.Message == "") {
			ge = &sdk.Error{Code: "error", Message: strings.TrimSpace(string(st.output))}
		}
		return nil, ge
	default:
		return nil, fmt.Errorf("%w: %s returned status %d (the ABI allows 0 and 1)", ErrCrashed, export, uint32(res[0]))
	}
}

// crash describes why an instance died: deadline, exit, or trap (with the guest's last stderr
// line, where Go prints "panic: ..." or "out of memory").
func (m *Module) crash(what string, err error, ctx context.Context, limit time.Duration, errw *lineWriter) error {
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s killed after %s (limits.timeout)", extension.ErrTimeout, what, limit)
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() != sys.ExitCodeContextCanceled && exit.ExitCode() != sys.ExitCodeDeadlineExceeded {
		return fmt.Errorf("%w: %s exited with code %d%s", ErrCrashed, what, exit.ExitCode(), errw.tail())
	}
	msg, _, _ := strings.Cut(err.Error(), "\n") // drop wazero's wasm stack trace
	return fmt.Errorf("%w: %s: %s%s", ErrCrashed, what, msg, errw.tail())
}

// ParseWorkflow calls cmfy_workflow_parse.
func (m *Module) ParseWorkflow(ctx context.Context, req sdk.ParseRequest) (sdk.ParseResult, error) {
	return callJSON[sdk.ParseResult](ctx, m, sdk.CapWorkflowParser, req)
}

// ResolveModel calls cmfy_model_resolve.
func (m *Module) ResolveModel(ctx context.Context, req sdk.ResolveRequest) (sdk.ResolveResponse, error) {
	return callJSON[sdk.ResolveResponse](ctx, m, sdk.CapModelSource, req)
}

// Decide calls cmfy_recovery_classify.
func (m *Module) Decide(ctx context.Context, in sdk.StrategyInput) (sdk.StrategyDecision, error) {
	return callJSON[sdk.StrategyDecision](ctx, m, sdk.CapRecoveryStrategy, in)
}

// Call runs capability c with raw JSON in and out (launcher ext test, benchmarks).
func (m *Module) Call(ctx context.Context, c sdk.Capability, input []byte) ([]byte, error) {
	return m.call(ctx, c, input)
}

func callJSON[T any](ctx context.Context, m *Module, c sdk.Capability, req any) (T, error) {
	var out T
	in, err := json.Marshal(req)
	if err != nil {
		return out, fmt.Errorf("encode request: %w", err)
	}
	raw, err := m.call(ctx, c, in)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, fmt.Errorf("%s answered invalid JSON for %s: %w", m.id, c, err)
	}
	return out, nil
}
