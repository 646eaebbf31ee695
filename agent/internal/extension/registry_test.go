package extension

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

type fakeStrategy struct{ name string }

func (f fakeStrategy) Decide(context.Context, sdk.StrategyInput) (sdk.StrategyDecision, error) {
	return sdk.StrategyDecision{Class: f.name}, nil
}

type fakeLoaded struct {
	m      sdk.Manifest
	closed *bool
	fakeStrategy
}

func (f fakeLoaded) Manifest() sdk.Manifest { return f.m }
func (f fakeLoaded) Close(context.Context) error {
	if f.closed != nil {
		*f.closed = true
	}
	return nil
}

type opener struct {
	l   Loaded
	err error
	n   int
}

func (o *opener) Open(context.Context, Spec) (Loaded, error) { o.n++; return o.l, o.err }

func ids(es []*Entry) string {
	var s []string
	for _, e := range es {
		s = append(s, e.ID())
	}
	return strings.Join(s, ",")
}

func builtin(t *testing.T, r *Registry, name string, c sdk.Capability) {
	t.Helper()
	if _, err := r.Register(context.Background(), Info{ID: ID(TransportBuiltin, name), Transport: TransportBuiltin, Capabilities: []sdk.Capability{c}}, fakeStrategy{name}); err != nil {
		t.Fatal(err)
	}
}

func TestOrderRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := New(Options{})
	builtin(t, r, "a", sdk.CapRecoveryStrategy)
	builtin(t, r, "b", sdk.CapRecoveryStrategy)
	builtin(t, r, "p", sdk.CapWorkflowParser)
	strat := sdk.Manifest{Name: "x", Capabilities: []sdk.Capability{sdk.CapRecoveryStrategy}}
	for _, name := range []string{"x", "y"} {
		if _, err := r.Load(ctx, TransportWASM, &opener{l: fakeLoaded{m: strat}}, Spec{ID: ID(TransportWASM, name)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Load(ctx, TransportWASM, &opener{err: errors.New("boom")}, Spec{ID: "wasm.broken"}); err == nil {
		t.Fatal("a failing Open must return its error")
	}
	if got := ids(r.Ordered(sdk.CapRecoveryStrategy)); got != "wasm.x,wasm.y,builtin.a,builtin.b" {
		t.Errorf("default order = %s, want extensions first in declared order, then built-ins", got)
	}
	if got := ids(r.Ordered(sdk.CapWorkflowParser)); got != "builtin.p" {
		t.Errorf("parsers = %s, want only the parser", got)
	}
	r.SetOrder(sdk.CapRecoveryStrategy, []string{"b", "wasm.y", "wasm.broken", "wasm.missing"})
	if got := ids(r.Ordered(sdk.CapRecoveryStrategy)); got != "builtin.b,wasm.y" {
		t.Errorf("configured order = %s, want exactly the listed loaded ids", got)
	}
	w := strings.Join(r.Warnings(), "\n")
	for _, want := range []string{"wasm.broken failed: boom", "wasm.missing, which is not registered"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q lack %q", w, want)
		}
	}
	if ok, _ := r.Health(); ok {
		t.Error("health must be degraded while an extension is failed")
	}
	r.SetOrder(sdk.CapRecoveryStrategy, nil)
	if got := ids(r.Ordered(sdk.CapRecoveryStrategy)); got != "wasm.x,wasm.y,builtin.a,builtin.b" {
		t.Errorf("order after reset = %s", got)
	}
}

func TestConflictRefusesTheSecond(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := New(Options{})
	builtin(t, r, "a", sdk.CapRecoveryStrategy)
	_, err := r.Register(ctx, Info{ID: "builtin.a", Transport: TransportBuiltin, Capabilities: []sdk.Capability{sdk.CapRecoveryStrategy}}, fakeStrategy{"second"})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("second registration err = %v, want ErrConflict", err)
	}
	o := &opener{l: fakeLoaded{m: sdk.Manifest{Capabilities: []sdk.Capability{sdk.CapRecoveryStrategy}}}}
	if _, err := r.Load(ctx, TransportWASM, o, Spec{ID: "wasm.z"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Load(ctx, TransportWASM, o, Spec{ID: "wasm.z"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second load err = %v, want ErrConflict", err)
	}
	if o.n != 1 {
		t.Errorf("the conflicting extension was opened (%d opens): nothing may run before the id is free", o.n)
	}
	e, _ := r.Get("builtin.a")
	d, _ := e.Impl().(sdk.RecoveryStrategy).Decide(ctx, sdk.StrategyInput{})
	if d.Class != "a" {
		t.Errorf("the first registration must stay, got %q", d.Class)
	}
	if len(r.List()) != 2 {
		t.Errorf("list = %+v", r.List())
	}
	if _, err := r.Register(ctx, Info{ID: "wasm.sneaky", Transport: TransportBuiltin}, nil); err == nil {
		t.Error("a built-in must not take a wasm. id")
	}
}

func TestLoadChecksHashAndCapabilities(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := New(Options{})
	path := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(path, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := &opener{l: fakeLoaded{m: sdk.Manifest{Capabilities: []sdk.Capability{sdk.CapRecoveryStrategy}}}}
	e, err := r.Load(ctx, TransportWASM, o, Spec{ID: "wasm.h", Path: path, SHA256: strings.Repeat("0", 64)})
	if !errors.Is(err, ErrHashMismatch) || o.n != 0 {
		t.Fatalf("err = %v, opens = %d: a mismatch must refuse before Open", err, o.n)
	}
	const sum = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	if !strings.Contains(err.Error(), sum) || !strings.Contains(err.Error(), strings.Repeat("0", 64)) {
		t.Errorf("mismatch message must name both hashes: %v", err)
	}
	if e.State() != StateFailed {
		t.Errorf("state = %s", e.State())
	}
	if _, err := r.Load(ctx, TransportWASM, o, Spec{ID: "wasm.ok", Path: path, SHA256: strings.ToUpper(sum)}); err != nil {
		t.Fatalf("matching hash: %v", err)
	}
	closed := false
	lying := &opener{l: fakeLoaded{m: sdk.Manifest{Capabilities: []sdk.Capability{sdk.CapModelSource}}, closed: &closed}}
	if _, err := r.Load(ctx, TransportWASM, lying, Spec{ID: "wasm.liar"}); err == nil || !strings.Contains(err.Error(), "model_source") {
		t.Fatalf("declared but unimplemented capability: err = %v", err)
	}
	if !closed {
		t.Error("an extension refused after Open must be closed")
	}
}

func TestCallRecordsStatsAndContainsPanics(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := New(Options{Now: func() time.Time { return now }})
	builtin(t, r, "a", sdk.CapRecoveryStrategy)
	e, _ := r.Get("builtin.a")
	var changes []Status
	r.OnChange(func(s Status) { changes = append(changes, s) })
	ctx := context.Background()
	if _, err := Call(ctx, e, func(context.Context) (int, error) { return 1, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := Call(ctx, e, func(context.Context) (int, error) { panic("boom") }); err == nil || !strings.Contains(err.Error(), "panicked: boom") {
		t.Fatalf("panic err = %v", err)
	}
	if _, err := Call(ctx, e, func(context.Context) (int, error) { return 0, ErrTimeout }); err == nil {
		t.Fatal("want error")
	}
	if len(changes) != 1 || changes[0].LastError == "" {
		t.Fatalf("two failing calls within %s published %d changes, want 1", errorEventInterval, len(changes))
	}
	now = now.Add(errorEventInterval)
	Call(ctx, e, func(context.Context) (int, error) { return 0, errors.New("again") })
	if len(changes) != 2 || !strings.Contains(changes[1].LastError, "again") {
		t.Fatalf("after the interval a failing call must publish again: %d changes", len(changes))
	}
	changes = nil
	st := e.Status()
	if st.Stats.Calls != 4 || st.Stats.Errors != 3 || st.Stats.Timeouts != 1 {
		t.Errorf("stats = %+v", st.Stats)
	}
	if !strings.Contains(st.LastError, "again") || st.LastErrorAt == nil || !st.LastErrorAt.Equal(now) {
		t.Errorf("last error = %q at %v", st.LastError, st.LastErrorAt)
	}
	e.setState(StateFailed, errors.New("crashed"))
	if len(changes) != 1 || changes[0].State != StateFailed {
		t.Errorf("changes = %+v", changes)
	}
	if len(r.Ordered(sdk.CapRecoveryStrategy)) != 0 {
		t.Error("a failed extension must not be asked")
	}
}
