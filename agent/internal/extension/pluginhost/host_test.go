package pluginhost_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/agent/internal/extension/pluginhost"
	"github.com/comfylauncher/launcher/agent/internal/extension/plugintest"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

const testdata = "agent/internal/extension/pluginhost/testdata/"

// bins are the test plugins, built once for the whole test binary.
var bins map[string]string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pluginhost-")
	if err != nil {
		panic(err)
	}
	bins, err = plugintest.Build(dir, testdata+"testplugin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// copyBin copies the test plugin into its own directory under name (which picks its persona:
// testplugin, wrongcookie, wrongversion, mirrorplugin), so its "<path>.ran" marker is the
// test's alone, and returns the copy's path and sha256.
func copyBin(t testing.TB, name string) (string, string) {
	t.Helper()
	b, err := os.ReadFile(bins["testplugin"])
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return p, hex.EncodeToString(sum[:])
}

// gate is an injected backoff clock: each wait blocks until the test releases it.
type gate struct {
	waits chan time.Duration
	open  chan time.Time
}

func newGate() *gate { return &gate{waits: make(chan time.Duration, 16), open: make(chan time.Time)} }

func (g *gate) After(d time.Duration) <-chan time.Time {
	g.waits <- d
	return g.open
}

// release lets one waiting restart go and returns the backoff it waited for.
func (g *gate) release(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-g.waits:
		g.open <- time.Now()
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no restart is waiting on its backoff")
		return 0
	}
}

// logs captures records and lets a test wait for a message.
type logs struct {
	mu      sync.Mutex
	records []slog.Record
	notify  chan string
}

func newLogs() *logs { return &logs{notify: make(chan string, 256)} }

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r)
	l.mu.Unlock()
	select {
	case l.notify <- r.Message:
	default:
	}
	return nil
}
func (l *logs) WithAttrs(as []slog.Attr) slog.Handler { return &attrs{l, as} }
func (l *logs) WithGroup(string) slog.Handler         { return l }

type attrs struct {
	*logs
	as []slog.Attr
}

func (a *attrs) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(a.as...)
	return a.logs.Handle(ctx, r)
}
func (a *attrs) WithAttrs(as []slog.Attr) slog.Handler {
	return &attrs{a.logs, append(append([]slog.Attr{}, a.as...), as...)}
}

func (l *logs) waitFor(t *testing.T, msg string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-l.notify:
			if m == msg {
				return
			}
		case <-deadline:
			t.Fatalf("no log record %q", msg)
		}
	}
}

// find returns the attributes of the first record with message msg.
func (l *logs) find(msg string) (map[string]string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		if r.Message != msg {
			continue
		}
		out := map[string]string{}
		r.Attrs(func(a slog.Attr) bool { out[a.Key] = a.Value.String(); return true })
		return out, true
	}
	return nil, false
}

type fixture struct {
	reg    *extension.Registry
	host   *pluginhost.Host
	gate   *gate
	logs   *logs
	states chan extension.State
}

func newFixture(t *testing.T, opts pluginhost.Options) *fixture {
	t.Helper()
	f := &fixture{gate: newGate(), logs: newLogs(), states: make(chan extension.State, 64)}
	log := slog.New(f.logs)
	f.reg = extension.New(extension.Options{Logger: log})
	f.reg.OnChange(func(s extension.Status) {
		select {
		case f.states <- s.State:
		default:
		}
	})
	opts.Logger = log
	opts.After = f.gate.After
	if opts.Backoff == nil {
		opts.Backoff = func(n int) time.Duration { return time.Duration(n) * 10 * time.Millisecond }
	}
	f.host = pluginhost.New(opts)
	t.Cleanup(func() { _ = f.reg.Close(context.Background()); _ = f.host.Close(context.Background()) })
	return f
}

func (f *fixture) load(t *testing.T, path, sum, config string, timeout time.Duration) (*extension.Entry, error) {
	t.Helper()
	spec := extension.Spec{ID: "plugin.test", Name: "test", Path: path, SHA256: sum, Limits: extension.Limits{Timeout: timeout}}
	if config != "" {
		spec.Config = []byte(config)
	}
	return f.reg.Load(context.Background(), extension.TransportPlugin, f.host, spec)
}

func (f *fixture) mustLoad(t *testing.T, config string, timeout time.Duration) (*extension.Entry, *pluginhost.Plugin) {
	t.Helper()
	path, sum := copyBin(t, "testplugin")
	e, err := f.load(t, path, sum, config, timeout)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return e, e.Impl().(*pluginhost.Plugin)
}

func (f *fixture) waitState(t *testing.T, want extension.State) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case s := <-f.states:
			if s == want {
				return
			}
		case <-deadline:
			t.Fatalf("extension never became %s", want)
		}
	}
}

func resolve(p *pluginhost.Plugin, ref string) (sdk.ResolveResponse, error) {
	return p.ResolveModel(context.Background(), sdk.ResolveRequest{Reference: ref, Query: sdk.ModelQuery{Name: "m.safetensors", Folder: "loras"}})
}

func mustResolve(t *testing.T, p *pluginhost.Plugin) {
	t.Helper()
	out, err := resolve(p, "")
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if len(out.Candidates) != 1 || out.Candidates[0].URL != "https://models.example/m.safetensors" {
		t.Fatalf("resolve = %+v", out)
	}
}

func TestEveryCapabilityRoundTrips(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pluginhost.Options{HostVersion: "test"})
	e, p := f.mustLoad(t, "", 0)
	if st := e.Status(); st.State != extension.StateLoaded || st.Version != "0.1.0" || len(st.Capabilities) != 3 {
		t.Fatalf("status = %+v", st)
	}
	out, err := p.ResolveModel(context.Background(), sdk.ResolveRequest{Reference: "ref", Query: sdk.ModelQuery{Name: "a.safetensors", Folder: "loras", SHA256: "ab"}})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Candidates[0]
	if c.Filename != "a.safetensors" || c.Folder != "loras" || c.SHA256 != "ab" || c.Size != 42 || c.Reference != "ref" || c.Confidence != 0.5 || c.Headers["X-Test"] != "1" {
		t.Fatalf("candidate = %+v", c)
	}
	parsed, err := p.ParseWorkflow(context.Background(), sdk.ParseRequest{Format: "api", Raw: []byte(`{"1":{}}`), Nodes: []sdk.WorkflowNode{
		{ID: "1", Type: "HouseLoader", Inputs: map[string]any{"ckpt": "house.safetensors", "n": 3.0}, Widgets: []any{"x", nil, true}},
		{ID: "2", Type: "KSampler"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(parsed.Models) != 1 || parsed.Models[0].Filename != "house.safetensors" || parsed.Models[0].NodeID != "1" || parsed.Tags[0] != "house" {
		t.Fatalf("parse = %+v", parsed)
	}
	d, err := p.Decide(context.Background(), sdk.StrategyInput{Class: "unknown", Message: "house registry 503", Attempt: 2})
	if err != nil || !d.Retry || d.DelaySeconds != 1.5 || d.Class != "network" {
		t.Fatalf("decide = %+v, %v", d, err)
	}
	if d, _ := p.Decide(context.Background(), sdk.StrategyInput{Message: "other"}); !d.NotMine {
		t.Fatalf("decide other = %+v", d)
	}
	// The plugin's own log line reaches the agent's log, tagged with the extension.
	if a, ok := f.logs.find("resolving"); !ok || a["extension"] != "plugin.test" || a["name"] != "a.safetensors" {
		t.Fatalf("plugin log record = %v, %v", a, ok)
	}
}

func TestPluginErrorsComeBackAsExtensionErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pluginhost.Options{})
	_, p := f.mustLoad(t, "", 0)
	_, err := resolve(p, "error")
	var xe *sdk.Error
	if !errors.As(err, &xe) || xe.Code != "not_found" || !xe.Retryable {
		t.Fatalf("err = %v (%T)", err, err)
	}
	if _, err := resolve(p, "plainerror"); err == nil || !strings.Contains(err.Error(), "plain failure") {
		t.Fatalf("plain error = %v", err)
	}
}

func TestEnvironmentIsOnlyTheListAndTheTokenVariable(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PATH": "/usr/bin:/bin", "HOME": "/home/agent", "HOUSE_TOKEN": "s3cret", "AWS_SECRET_ACCESS_KEY": "leak", "CIVITAI_TOKEN": "leak"}
	f := newFixture(t, pluginhost.Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	_, p := f.mustLoad(t, `{"token_env":"HOUSE_TOKEN"}`, 0)
	out, err := resolve(p, "env")
	if err != nil {
		t.Fatal(err)
	}
	got := out.Candidates[0].Headers
	if got["HOUSE_TOKEN"] != "s3cret" || got["PATH"] != "/usr/bin:/bin" || got["HOME"] != "/home/agent" {
		t.Fatalf("plugin env lacks what it should get: %v", got)
	}
	for k := range got {
		switch {
		case k == "PATH" || k == "HOME" || k == "HOUSE_TOKEN":
		case strings.HasPrefix(k, "PLUGIN_") || k == "CMFY_AGENT_PLUGIN":
			// go-plugin's handshake variables
		default:
			t.Errorf("plugin got variable %s it was not given", k)
		}
	}
}

func TestKillBetweenCallsRestartsWithinBackoff(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pluginhost.Options{})
	e, p := f.mustLoad(t, "", 0)
	mustResolve(t, p)
	pid := p.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	f.waitState(t, extension.StateDown)
	_, err := resolve(p, "")
	if !errors.Is(err, pluginhost.ErrDown) || !strings.Contains(err.Error(), "signal: killed") {
		t.Fatalf("call while down = %v, want ErrDown naming the signal", err)
	}
	if st := e.Status(); st.State != extension.StateDown || !strings.Contains(st.LastError, "killed") {
		t.Fatalf("status while down = %+v", st)
	}
	if d := f.gate.release(t); d != 10*time.Millisecond {
		t.Fatalf("first restart waited %s, want the backoff's 10ms", d)
	}
	f.waitState(t, extension.StateLoaded)
	mustResolve(t, p)
	if p.PID() == pid || p.PID() == 0 {
		t.Fatalf("pid after restart = %d (was %d)", p.PID(), pid)
	}
}

func TestKillDuringCallFailsTheCallAndRestarts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pluginhost.Options{})
	_, p := f.mustLoad(t, "", 30*time.Second)
	errc := make(chan error, 1)
	go func() { _, err := resolve(p, "block"); errc <- err }()
	f.logs.waitFor(t, "blocked")
	if err := syscall.Kill(p.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	if !errors.Is(err, pluginhost.ErrCrashed) || !strings.Contains(err.Error(), "signal: killed") {
		t.Fatalf("in-flight call = %v, want ErrCrashed naming the signal", err)
	}
	f.waitState(t, extension.StateDown)
	f.gate.release(t)
	f.waitState(t, extension.StateLoaded)
	mustResolve(t, p)
}

func TestHangingCallHitsTheDeadline(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pluginhost.Options{})
	e, p := f.mustLoad(t, "", 300*time.Millisecond)
	pid := p.PID()
	_, err := extension.Call(context.Background(), e, func(context.Context) (sdk.ResolveResponse, error) { return resolve(p, "hang") })
	if !errors.Is(err, extension.ErrTimeout) {
		t.Fatalf("hanging call = %v, want ErrTimeout", err)
	}
	mustResolve(t, p)
	if p.PID() != pid {
		t.Fatal("a timeout restarted the plugin")
	}
	if st := e.Status(); st.Stats.Timeouts != 1 || !strings.Contains(st.LastError, "timed out") {
		t.Fatalf("status after a timeout = %+v", st)
	}
}

func TestPanicInHandlerIsAnErrorAndTheProcessSurvives(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pluginhost.Options{})
	e, p := f.mustLoad(t, "", 0)
	pid := p.PID()
	_, err := resolve(p, "panic")
	if err == nil || !strings.Contains(err.Error(), "plugin panic in /cmfy.plugin.v1.ModelSourceService/Resolve: resolver exploded") {
		t.Fatalf("panicking call = %v", err)
	}
	mustResolve(t, p)
	if p.PID() != pid || e.State() != extension.StateLoaded {
		t.Fatalf("after a panic: pid %d (was %d), state %s", p.PID(), pid, e.State())
	}
}

func TestPluginThatKeepsCrashingIsFailed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pluginhost.Options{MaxCrashes: 2})
	marker := filepath.Join(t.TempDir(), "started")
	e, p := f.mustLoad(t, fmt.Sprintf(`{"crash_on_restart":%q}`, marker), 0)
	if err := syscall.Kill(p.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	f.gate.release(t) // restart 1: exits with 3
	f.gate.release(t) // restart 2: exits with 3, third crash within the window
	f.waitState(t, extension.StateFailed)
	st := e.Status()
	if !strings.Contains(st.LastError, "crashed 3 times") || !strings.Contains(st.LastError, "exit status 3") {
		t.Fatalf("failed status = %+v", st)
	}
	if _, err := resolve(p, ""); !errors.Is(err, pluginhost.ErrFailed) {
		t.Fatalf("call to a failed plugin = %v", err)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct{ bin, want string }{
		{"wrongcookie", "refused the handshake: it expects another magic cookie than CMFY_AGENT_PLUGIN"},
		{"wrongversion", "speaks plugin protocol version 2 but this agent speaks version 1"},
	}
	for _, c := range cases {
		t.Run(c.bin, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, pluginhost.Options{})
			path, sum := copyBin(t, c.bin)
			e, err := f.load(t, path, sum, "", 0)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("load = %v, want %q", err, c.want)
			}
			if st := e.Status(); st.State != extension.StateFailed || !strings.Contains(st.LastError, c.want) {
				t.Fatalf("status = %+v", st)
			}
		})
	}
}

func TestConfigureErrorRefusesThePlugin(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pluginhost.Options{})
	path, sum := copyBin(t, "testplugin")
	if _, err := f.load(t, path, sum, `{"fail_configure":true}`, 0); err == nil || !strings.Contains(err.Error(), "bad_config: fail_configure is set") {
		t.Fatalf("load = %v", err)
	}
	f2 := newFixture(t, pluginhost.Options{})
	if _, err := f2.load(t, path, sum, `{"typo":1}`, 0); err == nil || !strings.Contains(err.Error(), `unknown field "typo"`) {
		t.Fatalf("load with a typo = %v", err)
	}
}

func TestHashMismatchNeverExecutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pluginhost.Options{})
	path, sum := copyBin(t, "testplugin")
	wrong := strings.Repeat("0", 64)
	// Through the registry (checked before Open) and straight through the host (go-plugin's
	// SecureConfig, checked before exec).
	if _, err := f.load(t, path, wrong, "", 0); !errors.Is(err, extension.ErrHashMismatch) {
		t.Fatalf("registry load = %v", err)
	}
	_, err := f.host.Open(context.Background(), extension.Spec{ID: "plugin.direct", Path: path, SHA256: wrong, Report: func(extension.State, error) {}})
	if !errors.Is(err, extension.ErrHashMismatch) {
		t.Fatalf("host open = %v", err)
	}
	if _, err := os.Stat(path + ".ran"); !os.IsNotExist(err) {
		t.Fatalf("the binary ran despite the mismatch (marker: %v)", err)
	}
	// The marker does prove execution: the right hash runs it.
	p, err := f.host.Open(context.Background(), extension.Spec{ID: "plugin.direct", Path: path, SHA256: sum, Report: func(extension.State, error) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	if _, err := os.Stat(path + ".ran"); err != nil {
		t.Fatalf("marker after a real run: %v", err)
	}
}

func TestNotAPluginBinary(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pluginhost.Options{})
	dir := t.TempDir()
	wasm := filepath.Join(dir, "m.wasm")
	os.WriteFile(wasm, []byte("\x00asm\x01\x00\x00\x00"), 0o755)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("hello"), 0o644)
	for path, want := range map[string]string{wasm: "is a WebAssembly module", text: "is not executable"} {
		if _, err := f.host.Open(context.Background(), extension.Spec{ID: "plugin.x", Path: path}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("open %s = %v, want %q", filepath.Base(path), err, want)
		}
	}
}

func TestCloseStopsTheProcess(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pluginhost.Options{})
	_, p := f.mustLoad(t, "", 0)
	pid := p.PID()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("plugin process %d still exists after Close (kill 0: %v)", pid, err)
	}
	if _, err := resolve(p, ""); !errors.Is(err, pluginhost.ErrDown) {
		t.Fatalf("call after close = %v", err)
	}
}
