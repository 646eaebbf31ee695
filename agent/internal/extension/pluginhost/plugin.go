package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
	sdkplugin "github.com/comfylauncher/launcher/sdk/plugin"
)

// Plugin is one configured plugin: the process currently serving it (none while it is down)
// and the supervisor that restarts it. It implements sdk.WorkflowParser, sdk.ModelSource and
// sdk.RecoveryStrategy; a call to a capability its manifest does not declare fails with
// ErrNotDeclared.
type Plugin struct {
	host    *Host
	spec    extension.Spec
	log     *slog.Logger
	env     []string
	timeout time.Duration

	manifest sdk.Manifest
	stop     chan struct{}
	wg       sync.WaitGroup

	mu      sync.Mutex
	cur     *proc
	downErr error // why the plugin is down (nil while it runs)
	failErr error // why it is failed for good
	crashes []time.Time
	closed  bool
}

// proc is one running plugin process.
type proc struct {
	client *goplugin.Client
	rpc    *sdkplugin.Client
	cmd    *exec.Cmd
	stderr *tail
}

var _ extension.Loaded = (*Plugin)(nil)

func newPlugin(h *Host, spec extension.Spec, env []string) *Plugin {
	log := spec.Logger
	if log == nil {
		log = h.opts.Logger.With("extension", spec.ID)
	}
	timeout := spec.Limits.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Plugin{host: h, spec: spec, log: log, env: env, timeout: timeout, stop: make(chan struct{})}
}

// open starts the first process; it fails if that process cannot start or be configured.
func (p *Plugin) open(ctx context.Context) error {
	pr, m, err := p.launch(ctx)
	if err != nil {
		return err
	}
	p.manifest = m
	p.cur = pr
	p.wg.Add(1)
	go p.supervise()
	return nil
}

// Manifest is what the plugin declared when it first started.
func (p *Plugin) Manifest() sdk.Manifest { return p.manifest }

// PID is the process id of the running plugin process, 0 while it is down.
func (p *Plugin) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil || p.cur.cmd.Process == nil {
		return 0
	}
	return p.cur.cmd.Process.Pid
}

// Close stops the supervisor and the process.
func (p *Plugin) Close(context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	cur := p.cur
	p.cur = nil
	p.mu.Unlock()
	close(p.stop)
	if cur != nil {
		cur.client.Kill()
	}
	p.wg.Wait()
	p.host.forget(p)
	return nil
}

// launch starts one process and brings it to the point where it can be called: handshake,
// protocol negotiation, mutual TLS, manifest, configuration.
func (p *Plugin) launch(ctx context.Context) (*proc, sdk.Manifest, error) {
	cmd := exec.Command(p.spec.Path)
	cmd.Env = append([]string{}, p.env...)
	cmd.Dir = filepath.Dir(p.spec.Path)
	dieWithAgent(cmd)
	pr := &proc{cmd: cmd, stderr: &tail{}}
	cfg := &goplugin.ClientConfig{
		HandshakeConfig:  sdkplugin.Handshake,
		VersionedPlugins: sdkplugin.NewClientPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     p.host.opts.StartTimeout,
		Logger:           newSlogger(p.log),
		Stderr:           pr.stderr,
	}
	if p.spec.SHA256 != "" {
		sum, err := hex.DecodeString(strings.TrimSpace(p.spec.SHA256))
		if err != nil {
			return nil, sdk.Manifest{}, fmt.Errorf("sha256 %q is not hex: %w", p.spec.SHA256, err)
		}
		cfg.SecureConfig = &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	pr.client = goplugin.NewClient(cfg)
	fail := func(err error) (*proc, sdk.Manifest, error) {
		pr.client.Kill()
		return nil, sdk.Manifest{}, err
	}
	proto, err := pr.client.Client()
	if err != nil {
		pr.client.Kill() // waits for the stderr reader, so the tail is complete
		return nil, sdk.Manifest{}, p.startError(err, pr)
	}
	raw, err := proto.Dispense(sdkplugin.PluginName)
	if err != nil {
		return fail(fmt.Errorf("dispense: %w", err))
	}
	pr.rpc = raw.(*sdkplugin.Client)
	cctx, cancel := context.WithTimeout(ctx, p.host.opts.StartTimeout)
	defer cancel()
	m, err := pr.rpc.Info(cctx)
	if err != nil {
		return fail(fmt.Errorf("info: %w", p.callError(cctx, err, pr)))
	}
	if p.manifest.Name != "" && !sameCapabilities(m, p.manifest) {
		return fail(fmt.Errorf("the restarted plugin declares %v, not %v as when it was loaded", m.Capabilities, p.manifest.Capabilities))
	}
	cfgJSON := p.spec.Config
	if len(cfgJSON) == 0 {
		cfgJSON = []byte("{}")
	}
	if err := pr.rpc.Configure(cctx, sdk.InitRequest{HostVersion: p.host.opts.HostVersion, Config: cfgJSON}); err != nil {
		return fail(fmt.Errorf("configure: %w", p.callError(cctx, err, pr)))
	}
	p.log.Info("plugin started", "pid", cmd.Process.Pid, "protocol", pr.client.NegotiatedVersion(), "version", m.Version)
	return pr, m, nil
}

func sameCapabilities(a, b sdk.Manifest) bool {
	if len(a.Capabilities) != len(b.Capabilities) {
		return false
	}
	for _, c := range a.Capabilities {
		if !b.Has(c) {
			return false
		}
	}
	return true
}

var incompatibleVersion = regexp.MustCompile(`Plugin version: (\d+), Client versions: \[([\d ]*)\]`)

// startError turns go-plugin's start failures into messages that say what is wrong and what
// to do about it.
func (p *Plugin) startError(err error, pr *proc) error {
	path := p.spec.Path
	switch {
	case errors.Is(err, goplugin.ErrChecksumsDoNotMatch):
		return fmt.Errorf("%w: %s changed since its sha256 was checked (not executed)", extension.ErrHashMismatch, path)
	case strings.Contains(pr.stderr.String(), "This binary is a plugin"):
		return fmt.Errorf("%s refused the handshake: it expects another magic cookie than %s, so it is not a cmfy agent plugin "+
			"(or it is built for another application); build it with sdk/plugin.Serve", path, sdkplugin.MagicCookieKey)
	}
	if m := incompatibleVersion.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("%s speaks plugin protocol version %s but this agent speaks version %s: rebuild it against this agent's sdk/plugin",
			path, m[1], strings.ReplaceAll(strings.TrimSpace(m[2]), " ", ", "))
	}
	if last := pr.stderr.Last(); last != "" {
		return fmt.Errorf("start %s: %w (its last output: %s)", path, err, last)
	}
	return fmt.Errorf("start %s: %w", path, err)
}

// supervise waits for the running process to exit, then restarts it with backoff until it
// stays up, the plugin is closed, or it has crashed too often.
func (p *Plugin) supervise() {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		cur := p.cur
		p.mu.Unlock()
		if cur == nil {
			return
		}
		select {
		case <-p.stop:
			return
		case <-cur.rpc.Exited():
		}
		reason := exitReason(cur)
		cur.client.Kill() // the process is gone; this releases its connection and socket directory
		if !p.restart(reason) {
			return
		}
	}
}

// restart marks the plugin down for reason and starts it again; false when it is closed or
// failed for good.
func (p *Plugin) restart(reason error) bool {
	for attempt := 1; ; attempt++ {
		if !p.down(reason) {
			return false
		}
		wait := p.host.opts.Backoff(attempt)
		p.log.Warn("plugin is down; restarting", "reason", reason, "attempt", attempt, "backoff", wait)
		select {
		case <-p.stop:
			return false
		case <-p.host.opts.After(wait):
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.host.opts.StartTimeout)
		pr, _, err := p.launch(ctx)
		cancel()
		if err != nil {
			reason = fmt.Errorf("restart: %w", err)
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			pr.client.Kill()
			return false
		}
		p.cur, p.downErr = pr, nil
		p.mu.Unlock()
		p.report(extension.StateLoaded, nil)
		return true
	}
}

// down records one crash for reason; it returns false (and marks the plugin failed) when the
// plugin has crashed more than MaxCrashes times within CrashWindow, or is closed.
func (p *Plugin) down(reason error) bool {
	o := p.host.opts
	now := o.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	p.cur = nil
	kept := p.crashes[:0]
	for _, t := range p.crashes {
		if now.Sub(t) < o.CrashWindow {
			kept = append(kept, t)
		}
	}
	p.crashes = append(kept, now)
	if len(p.crashes) > o.MaxCrashes {
		p.failErr = fmt.Errorf("%w: it crashed %d times within %s, last: %v; fix it and restart the agent", ErrFailed, len(p.crashes), o.CrashWindow, reason)
		p.mu.Unlock()
		p.log.Error("plugin keeps crashing; giving up", "reason", reason)
		p.report(extension.StateFailed, p.failErr)
		return false
	}
	p.downErr = fmt.Errorf("%w (%v); restarting", ErrDown, reason)
	p.mu.Unlock()
	p.report(extension.StateDown, reason)
	return true
}

func (p *Plugin) report(s extension.State, err error) {
	if p.spec.Report != nil {
		p.spec.Report(s, err)
	}
}

// exitReason says how a process ended: its exit status or signal and its last output.
func exitReason(pr *proc) error {
	what := "exited"
	if st := pr.cmd.ProcessState; st != nil {
		what = st.String()
	}
	if last := pr.stderr.Last(); last != "" {
		return fmt.Errorf("plugin process %s; its last output: %s", what, last)
	}
	return fmt.Errorf("plugin process %s", what)
}

// ready returns the running process, or why there is none.
func (p *Plugin) ready(c sdk.Capability) (*proc, error) {
	if !p.manifest.Has(c) {
		return nil, fmt.Errorf("%w: %s", ErrNotDeclared, c)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.failErr != nil:
		return nil, p.failErr
	case p.closed:
		return nil, fmt.Errorf("%w: closed", ErrDown)
	case p.cur == nil:
		return nil, p.downErr
	}
	return p.cur, nil
}

// crashWait bounds how long a failed call waits for the process's exit to be noticed, so its
// error can say how the process ended.
const crashWait = 2 * time.Second

// callError maps a failed call's gRPC error to the registry's: a deadline to ErrTimeout, a
// dead process to ErrCrashed with how it ended; the plugin's own errors pass through.
func (p *Plugin) callError(ctx context.Context, err error, pr *proc) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.DeadlineExceeded:
		return fmt.Errorf("%w after %s (limits.timeout): %s", extension.ErrTimeout, p.timeout, st.Message())
	case codes.Unavailable, codes.Canceled:
		if ctx.Err() != nil && st.Code() == codes.Canceled {
			return ctx.Err()
		}
		select {
		case <-pr.rpc.Exited():
			return fmt.Errorf("%w: %v; it is being restarted", ErrCrashed, exitReason(pr))
		case <-time.After(crashWait):
			return fmt.Errorf("%w: %s", ErrCrashed, st.Message())
		}
	}
	return fmt.Errorf("plugin error (%s): %s", st.Code(), st.Message())
}

// call runs one capability call with the plugin's deadline.
func call[T any](ctx context.Context, p *Plugin, c sdk.Capability, fn func(context.Context, *sdkplugin.Client) (T, error)) (T, error) {
	var zero T
	pr, err := p.ready(c)
	if err != nil {
		return zero, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	out, err := fn(ctx, pr.rpc)
	if err != nil {
		return zero, p.callError(ctx, err, pr)
	}
	return out, nil
}

// ParseWorkflow implements sdk.WorkflowParser.
func (p *Plugin) ParseWorkflow(ctx context.Context, req sdk.ParseRequest) (sdk.ParseResult, error) {
	return call(ctx, p, sdk.CapWorkflowParser, func(ctx context.Context, c *sdkplugin.Client) (sdk.ParseResult, error) {
		return c.ParseWorkflow(ctx, req)
	})
}

// ResolveModel implements sdk.ModelSource.
func (p *Plugin) ResolveModel(ctx context.Context, req sdk.ResolveRequest) (sdk.ResolveResponse, error) {
	return call(ctx, p, sdk.CapModelSource, func(ctx context.Context, c *sdkplugin.Client) (sdk.ResolveResponse, error) {
		return c.ResolveModel(ctx, req)
	})
}

// Decide implements sdk.RecoveryStrategy.
func (p *Plugin) Decide(ctx context.Context, in sdk.StrategyInput) (sdk.StrategyDecision, error) {
	return call(ctx, p, sdk.CapRecoveryStrategy, func(ctx context.Context, c *sdkplugin.Client) (sdk.StrategyDecision, error) {
		return c.Decide(ctx, in)
	})
}

// tail keeps the last lines a plugin wrote to stderr, for the reason of a crash.
type tail struct {
	mu    sync.Mutex
	buf   []byte
	lines []string
}

const tailLines = 20

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	for {
		i := strings.IndexByte(string(t.buf), '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimSpace(string(t.buf[:i])); line != "" {
			t.lines = append(t.lines, line)
			if len(t.lines) > tailLines {
				t.lines = t.lines[len(t.lines)-tailLines:]
			}
		}
		t.buf = t.buf[i+1:]
	}
	return len(b), nil
}

// String is every kept line.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// Last is the most telling recent line: the first line of a panic if there is one, else the
// last line, shortened.
func (t *tail) Last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return ""
	}
	line := t.lines[len(t.lines)-1]
	for _, l := range t.lines {
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") {
			line = l
			break
		}
	}
	if len(line) > 300 {
		line = line[:300] + "…"
	}
	return line
}

// Call runs capability c with raw JSON in and out, as the WASM transport's Module.Call does
// (launcher ext test, benchmarks).
func (p *Plugin) Call(ctx context.Context, c sdk.Capability, input []byte) ([]byte, error) {
	switch c {
	case sdk.CapWorkflowParser:
		return callJSON(ctx, input, p.ParseWorkflow)
	case sdk.CapModelSource:
		return callJSON(ctx, input, p.ResolveModel)
	case sdk.CapRecoveryStrategy:
		return callJSON(ctx, input, p.Decide)
	}
	return nil, fmt.Errorf("%w: %s", ErrNotDeclared, c)
}

func callJSON[In, Out any](ctx context.Context, input []byte, fn func(context.Context, In) (Out, error)) ([]byte, error) {
	var in In
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, fmt.Errorf("decode request: %w", err)
	}
	out, err := fn(ctx, in)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}
