// Package app wires the agent together in one place: config -> logger -> store -> hub ->
// subsystems -> HTTP server. Each subsystem's wiring lives in its own wire_*.go file.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/agent/internal/gpu"
	"github.com/comfylauncher/launcher/agent/internal/hub"
	"github.com/comfylauncher/launcher/agent/internal/managerdata"
	"github.com/comfylauncher/launcher/agent/internal/metrics"
	"github.com/comfylauncher/launcher/agent/internal/models"
	"github.com/comfylauncher/launcher/agent/internal/project"
	"github.com/comfylauncher/launcher/agent/internal/proxy"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/store"
	"github.com/comfylauncher/launcher/agent/internal/web"
	"github.com/comfylauncher/launcher/agent/internal/workflow"
)

// App is a wired agent.
type App struct {
	cfg     *config.Config
	log     *slog.Logger
	version string
	token   string

	db  *store.DB
	hub *hub.Hub
	api *api.Server
	gpu *gpu.Manager

	ext      *extension.Registry
	metrics  *metrics.Registry
	projects *project.Manager
	probes   probes

	recovery *recovery.Runner
	models   *models.Service
	catalog  workflow.ModelCatalog
	workflow *workflow.Service
	web      *web.Handler
	// managerData is the one ComfyUI-Manager data component (wire_managerdata.go).
	managerData *managerdata.Data
	// managerChecked is closed once the cache is loaded and the first refresh check is done.
	managerChecked chan struct{}

	// bgCancel stops goroutines started with background and whenServing.
	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup
	bgCtx    context.Context
	bg       []func(ctx context.Context)
	// afterServing are background goroutines that start once the listener serves (or at the end
	// of Start when the caller serves the Handler itself), so start-up work that can wait does
	// not compete with it.
	afterServing []func(ctx context.Context)

	snapshots []hub.SnapshotFunc
	starters  []func(ctx context.Context) error
	// lateStarters run after starters: the runner resumes operations only once every
	// subsystem has restored its own state.
	lateStarters []func(ctx context.Context) error
	stoppers     []func(ctx context.Context) error
}

// New opens the store and wires every subsystem. stderr receives messages an operator must
// see even with logging turned down (where a generated token was written).
func New(cfg *config.Config, logger *slog.Logger, version string, stderr io.Writer) (*App, error) {
	a := &App{cfg: cfg, log: logger, version: version}
	tok, err := resolveToken(cfg, stderr)
	if err != nil {
		return nil, err
	}
	a.token = tok

	db, err := store.Open(filepath.Join(cfg.Paths.DataDir, "db"), logger.With("component", "store"))
	if errors.Is(err, store.ErrLocked) {
		// Name the directory the operator configured, not the database inside it.
		return nil, &store.LockedError{Dir: cfg.Paths.DataDir}
	}
	if err != nil {
		return nil, err
	}
	a.db = db
	a.stoppers = append(a.stoppers, func(context.Context) error { return db.Close() })

	a.metrics = metrics.New(version)
	a.api = api.New(api.Options{
		Version:     version,
		Token:       tok,
		CORSOrigins: cfg.Server.CORSOrigins,
		MaxBody:     cfg.Server.MaxBodyBytes,
		Debug:       cfg.Server.Debug,
		Logger:      logger.With("component", "http"),
		Public:      []string{"/api/health", livezPath, readyzPath},
		SelfAuth:    []string{"/socket.io/"},
		Observe:     a.metrics.HTTP.Observe,
		// ComfyUI's page loads scripts, images and its WebSocket without the token (a cookie
		// carries it), and uploads images larger than API bodies (ComfyUI limits them).
		CookieAuth:   []string{proxy.Prefix},
		Unlimited:    []string{proxy.Prefix},
		AllowedHosts: cfg.Server.AllowedHosts,
	})
	a.api.AddHealth("store", func() (bool, any) {
		return true, map[string]any{"state": "open", "dir": db.Dir(), "salvaged_bytes": db.Salvaged}
	})

	var checkToken func(string) bool
	if tok != "" {
		checkToken = a.api.CheckToken
	}
	a.hub = hub.New(logger, hub.Options{
		CheckToken:     checkToken,
		CheckOrigin:    a.api.OriginAllowed,
		Snapshot:       a.snapshot,
		QueueSize:      cfg.Events.QueueSize,
		PingInterval:   cfg.Events.PingInterval.Duration,
		PingTimeout:    cfg.Events.PingTimeout.Duration,
		ConnectTimeout: cfg.Events.ConnectTimeout.Duration,
		MaxPayload:     cfg.Events.MaxPayload,
	})
	a.hub.Routes(a.api.Router)
	a.stoppers = append(a.stoppers, func(context.Context) error { a.hub.Close(); return nil })

	for _, wire := range []func() error{a.wireExtensions, a.wireRecovery, a.wireGPU, a.wireManagerData, a.wireModels, a.wireSettings, a.wireWorkflow, a.wireProject, a.wireWeb, a.wireLogPruning, a.wireMetrics, a.wireProbes} {
		if err := wire(); err != nil {
			a.shutdown(context.Background())
			return nil, err
		}
	}
	return a, nil
}

// Handler is the agent's HTTP handler (tests serve it with httptest).
func (a *App) Handler() http.Handler {
	if a.web != nil {
		return a.web.Wrap(a.api.Handler())
	}
	return a.api.Handler()
}

// Token is the API token in force ("" when auth is off).
func (a *App) Token() string { return a.token }

// Hub is the event hub.
func (a *App) Hub() *hub.Hub { return a.hub }

// snapshot asks every subsystem for the current state of a new subscription.
func (a *App) snapshot(kind, id string) []hub.Event {
	var out []hub.Event
	for _, fn := range a.snapshots {
		out = append(out, fn(kind, id)...)
	}
	return out
}

// background registers a goroutine that runs from Start until shutdown.
func (a *App) background(fn func(ctx context.Context)) { a.bg = append(a.bg, fn) }

// whenServing registers a goroutine that starts once the agent serves and runs until shutdown.
func (a *App) whenServing(fn func(ctx context.Context)) { a.afterServing = append(a.afterServing, fn) }

// Start runs the subsystems' start hooks (restoring state, resuming operations) and their
// background loops, including those that wait for serving (the caller serves Handler).
func (a *App) Start(ctx context.Context) error {
	if err := a.start(ctx); err != nil {
		return err
	}
	a.startAfterServing()
	return nil
}

func (a *App) start(ctx context.Context) error {
	bgCtx, cancel := context.WithCancel(context.Background())
	a.bgCtx, a.bgCancel = bgCtx, cancel
	for _, fn := range a.bg {
		a.bgWG.Go(func() { fn(bgCtx) })
	}
	for _, start := range append(a.starters, a.lateStarters...) {
		if err := start(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Close stops what Start started and closes the store, for embedders (and tests) that serve
// Handler themselves instead of calling Serve.
func (a *App) Close(ctx context.Context) { a.shutdown(ctx) }

// Extensions is the extension registry.
func (a *App) Extensions() *extension.Registry { return a.ext }

func (a *App) startAfterServing() {
	for _, fn := range a.afterServing {
		a.bgWG.Go(func() { fn(a.bgCtx) })
	}
}

// waitBackground waits until the background goroutines have returned, so none writes to the
// store or the data directory after it is closed; one that ignores its cancelled context is
// named in a warning after the shutdown timeout instead of holding shutdown forever.
func (a *App) waitBackground(ctx context.Context) {
	done := make(chan struct{})
	go func() { a.bgWG.Wait(); close(done) }()
	timer := time.NewTimer(a.cfg.Server.ShutdownTimeout.Duration)
	defer timer.Stop()
	select {
	case <-done:
	case <-ctx.Done():
		a.log.Warn("shutdown: background work still running", "err", ctx.Err())
	case <-timer.C:
		a.log.Warn("shutdown: background work still running after server.shutdown_timeout")
	}
}

// shutdown stops background loops and runs stop hooks in reverse order.
func (a *App) shutdown(ctx context.Context) {
	if a.bgCancel != nil {
		a.bgCancel()
		a.waitBackground(ctx)
	}
	for i := len(a.stoppers) - 1; i >= 0; i-- {
		if err := a.stoppers[i](ctx); err != nil {
			a.log.Warn("shutdown step failed", "err", err)
		}
	}
}

// Serve starts the subsystems, listens on server.listen and serves until ctx is cancelled,
// then shuts down gracefully: in-flight requests finish, subsystems stop, the store closes.
// ready, when non-nil, receives the bound address once the agent accepts connections.
func (a *App) Serve(ctx context.Context, ready func(addr string)) error {
	ln, err := net.Listen("tcp", a.cfg.Server.Listen)
	if err != nil {
		a.shutdown(context.Background())
		return fmt.Errorf("listen on %s: %w (another process may use the port: change server.listen)", a.cfg.Server.Listen, err)
	}
	if err := a.start(ctx); err != nil {
		ln.Close()
		a.shutdown(context.Background())
		return err
	}
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		// No WriteTimeout: Socket.IO long polls and proxied ComfyUI streams outlive any fixed one.
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("agent serving", "addr", ln.Addr().String(), "version", a.version, "auth", a.token != "")
	if ready != nil {
		ready(ln.Addr().String())
	}
	a.startAfterServing()
	select {
	case err := <-errc:
		a.shutdown(context.Background())
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	a.probes.stopping.Store(true) // /readyz says 503 so load balancers stop routing here
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.Server.ShutdownTimeout.Duration)
	defer cancel()
	a.hub.Close() // long-lived connections would hold Shutdown until its deadline
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.log.Warn("http shutdown", "err", err)
	}
	a.shutdown(sctx)
	a.log.Info("stopped")
	return nil
}

// resolveToken returns the API token: server.token, else the systemd credential api-token,
// else the content of server.token_file
// (generated when missing), else — for a non-loopback listen address — a token generated into
// <data_dir>/api-token. Generated files are 0600 and their path is printed.
func resolveToken(cfg *config.Config, stderr io.Writer) (string, error) {
	if cfg.Server.Token != "" {
		return cfg.Server.Token, nil
	}
	if tok, err := credentialToken(); tok != "" || err != nil {
		return tok, err
	}
	path := cfg.Server.TokenFile
	if path == "" {
		host, _, _ := net.SplitHostPort(cfg.Server.Listen)
		if config.IsLoopbackHost(host) {
			return "", nil
		}
		path = filepath.Join(cfg.Paths.DataDir, "api-token")
	}
	if b, err := os.ReadFile(path); err == nil {
		if tok := strings.TrimSpace(string(b)); tok != "" {
			return tok, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read server.token_file %s: %w", path, err)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(buf)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create token dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write generated token to %s: %w", path, err)
	}
	fmt.Fprintf(stderr, "launcher: generated an API token into %s (mode 0600); clients send it as 'Authorization: Bearer <token>'\n", path)
	return tok, nil
}
