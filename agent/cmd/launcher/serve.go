package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/comfylauncher/launcher/agent/internal/app"
	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/sdnotify"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (default ./launcher.toml if present, or $LAUNCHER_CONFIG)")
	listen := fs.String("listen", "", "override server.listen, e.g. 127.0.0.1:4000")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: launcher serve [--config PATH] [--listen ADDR]\n\nRuns the agent until SIGINT/SIGTERM.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*configPath, *listen)
	if err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.Log.Format, cfg.EffectiveLevel())
	a, err := app.New(cfg, logger, buildVersion(), stderr)
	if err != nil {
		return err
	}
	// The notifier ends with Serve: STOPPING=1 must reach systemd before the process exits,
	// which a goroutine left running at exit would not do on a busy machine.
	nctx, stopNotifier := context.WithCancel(ctx)
	var notifier sync.WaitGroup
	defer notifier.Wait()
	defer stopNotifier()
	return a.Serve(ctx, func(addr string) {
		fmt.Fprintf(stdout, "launcher %s serving on http://%s\n", buildVersion(), addr)
		notifier.Go(func() { notifySystemdWhenReady(nctx, a.Ready(), logger) })
	})
}

// loadConfig loads the config and applies command-line overrides, validating the result.
func loadConfig(path, listen string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if listen != "" {
		cfg.Server.Listen = listen
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// newLogger is the agent's logger: format "json" writes one JSON object a line, anything
// else key=value text. level was validated with the config.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// notifySystemdWhenReady sends READY=1 to systemd (Type=notify) once the agent serves and is
// ready: the store is open, operations resumed and declared projects reconciled. STOPPING=1
// follows when shutdown begins.
func notifySystemdWhenReady(ctx context.Context, ready <-chan struct{}, log *slog.Logger) {
	select {
	case <-ready:
	case <-ctx.Done():
		return
	}
	sent, err := sdnotify.Notify(sdnotify.Ready)
	if err != nil {
		log.Warn("notify systemd", "err", err)
	}
	if !sent {
		return
	}
	log.Info("notified systemd: ready")
	<-ctx.Done()
	if _, err := sdnotify.Notify(sdnotify.Stopping); err != nil {
		log.Warn("notify systemd", "err", err)
	}
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return version
}
