// Command launcher is the ComfyUI Launcher agent: `launcher serve` runs the daemon; the other
// subcommands inspect the machine or talk to a running agent.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"syscall"
)

// version and commit are set at build time with -ldflags "-X main.version=... -X main.commit=...";
// commit defaults to the VCS stamp of the build info.
var (
	version = "dev"
	commit  = ""
)

const usage = `launcher: the ComfyUI Launcher agent

Usage:
  launcher serve [--config PATH]     run the agent (reads ./launcher.toml, --config or $LAUNCHER_CONFIG)
  launcher doctor [--config PATH]    check config, directories, tools and ports, and print fixes
  launcher version                   print the version, commit and Go version
%s
Run 'launcher COMMAND --help' for a command's flags.
`

// command is one subcommand.
type command struct {
	run  func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	help string
}

// extraCommands are registered by the subcommands that live in their own files.
var extraCommands = map[string]command{}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "launcher:", err)
		}
		var ec exitCoder
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(1)
	}
}

// exitCoder lets a command choose its exit status (doctor: 1 when a check failed).
type exitCoder interface{ ExitCode() int }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	extra := ""
	for _, name := range slices.Sorted(maps.Keys(extraCommands)) { // a fixed order, not the map's
		extra += fmt.Sprintf("  launcher %-26s%s\n", name+" ...", extraCommands[name].help)
	}
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, extra)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "doctor":
		return runDoctor(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		printVersion(stdout)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintf(stdout, usage, extra)
		return nil
	}
	if c, ok := extraCommands[args[0]]; ok {
		return c.run(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, usage, extra)
	return fmt.Errorf("unknown command %q", args[0])
}
