package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/agent/internal/extension/extensionhttp"
	"github.com/comfylauncher/launcher/agent/internal/extension/pluginhost"
	"github.com/comfylauncher/launcher/agent/internal/extension/wasmhost"
	"github.com/comfylauncher/launcher/agent/internal/hub"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// extensionLoadTimeout bounds loading one [[extensions]] entry at start (a cold compile of a
// Go-built module takes one to two seconds; a cached one tens of milliseconds).
const extensionLoadTimeout = 60 * time.Second

// wireExtensions builds the extension registry every other subsystem registers its built-ins
// in and finds extensions through, then loads the [[extensions]] of launcher.toml. Call it
// first. A broken extension never stops the agent: it is listed as failed, /api/health turns
// degraded with a warning naming it, and the built-ins carry on.
func (a *App) wireExtensions() error {
	log := a.log.With("component", "extensions")
	reg := extension.New(extension.Options{Logger: log})
	a.ext = reg
	if o := a.cfg.Workflow.Parsers; o != nil {
		reg.SetOrder(sdk.CapWorkflowParser, o)
	}
	if o := a.cfg.Recovery.Strategies; o != nil {
		reg.SetOrder(sdk.CapRecoveryStrategy, o)
	}
	// [sources] order is applied by models.FromConfig, which registers the built-in sources.
	reg.OnChange(func(st extension.Status) { a.hub.Publish(hub.TopicGlobal, extension.EventExtensionUpdate, st) })
	extensionhttp.Routes(a.api.Router, reg)
	a.api.AddHealth("extensions", reg.Health)

	host, err := wasmhost.New(wasmhost.Options{CacheDir: filepath.Join(a.cfg.Paths.DataDir, "wasm-cache"), HostVersion: a.version, Logger: log})
	if err != nil {
		return fmt.Errorf("extensions: %w", err)
	}
	plugins := pluginhost.New(pluginhost.Options{HostVersion: a.version, Logger: log})
	a.stoppers = append(a.stoppers, func(ctx context.Context) error {
		err := reg.Close(ctx)
		return errors.Join(err, host.Close(ctx), plugins.Close(ctx))
	})
	transports := map[string]extension.Opener{string(extension.TransportWASM): host, string(extension.TransportPlugin): plugins}
	for _, ec := range a.cfg.Extensions {
		a.loadExtension(reg, transports, ec)
	}
	return nil
}

// loadExtension loads one [[extensions]] entry; every outcome is recorded in the registry.
func (a *App) loadExtension(reg *extension.Registry, transports map[string]extension.Opener, ec config.ExtensionConfig) {
	t := extension.Transport(ec.TransportName())
	info := extension.Info{ID: ec.ID(), Transport: t, Path: ec.Path}
	if !ec.IsEnabled() {
		if _, err := reg.AddDisabled(info); err != nil {
			a.log.Warn("extension not listed", "extension", ec.ID(), "err", err)
		}
		return
	}
	op := transports[string(t)]
	var cfgJSON json.RawMessage
	if ec.Config != nil {
		b, err := json.Marshal(ec.Config)
		if err != nil {
			op = failing{fmt.Errorf("encode config: %w", err)}
		}
		cfgJSON = b
	}
	switch {
	case ec.SHA256 == "":
		op = failing{fmt.Errorf("sha256 is not set: the agent runs only files it can verify; add sha256 = \"<output of sha256sum %s>\" to the [[extensions]] entry %q", ec.Path, ec.Name)}
	case op == nil:
		op = failing{fmt.Errorf("transport %q is not available in this agent", t)}
	}
	spec := extension.Spec{ID: ec.ID(), Name: ec.Name, Path: ec.Path, SHA256: ec.SHA256, Config: cfgJSON,
		Limits: extension.Limits{MemoryMB: ec.Limits.MemoryMB, Timeout: ec.Limits.Timeout.Duration, MaxOutputBytes: ec.Limits.MaxOutputBytes},
		Logger: a.log.With("component", "extensions")}
	ctx, cancel := context.WithTimeout(context.Background(), extensionLoadTimeout)
	defer cancel()
	_, _ = reg.Load(ctx, t, op, spec) // a failure is recorded (state, last error, log line) by Load
}

// failing is an Opener that refuses with err (a configuration problem found before opening).
type failing struct{ err error }

func (f failing) Open(context.Context, extension.Spec) (extension.Loaded, error) { return nil, f.err }
