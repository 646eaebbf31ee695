package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/comfylauncher/launcher/agent/internal/workflow"
)

const workflowUsage = `Usage: launcher workflow inspect [flags] FILE

Print what a ComfyUI workflow needs: its nodes, the model files it loads (by folder), the custom
node packs it uses, an estimate of its VRAM and its workflow type. FILE is a workflow in UI or
API format, or a wrapper around one (launcher.json, {"prompt": ...}, RunPod's {"input": ...}).
Works offline: node packs are resolved with the cached ComfyUI-Manager data.

Flags:
`

// runWorkflowCmd implements "launcher workflow ...".
func runWorkflowCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		out := stdout
		if len(args) == 0 {
			out = stderr
		}
		fmt.Fprint(out, workflowUsage)
		inspectFlags(out).PrintDefaults()
		if len(args) == 0 {
			return errors.New("workflow: missing subcommand (inspect)")
		}
		return nil
	}
	switch args[0] {
	case "inspect":
		return runWorkflowInspect(ctx, args[1:], stdout, stderr)
	default:
		return fmt.Errorf("workflow: unknown subcommand %q (want inspect)", args[0])
	}
}

func inspectFlags(out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("workflow inspect", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Bool("json", false, "print the metadata as JSON (the preview endpoint's metadata object)")
	fs.String("manager-dir", defaultManagerDir(), "ComfyUI-Manager data cache (extension-node-map.json, ...)")
	fs.String("seed-dir", "", "directory to seed an empty Manager cache from")
	return fs
}

func defaultManagerDir() string {
	if d := os.Getenv("LAUNCHER_DATA_DIR"); d != "" {
		return filepath.Join(d, "manager")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "comfylauncher", "manager")
	}
	return ""
}

func runWorkflowInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := inspectFlags(stdout)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), workflowUsage)
		fs.PrintDefaults()
	}
	if help, err := parseFlags(fs, args, stderr); help || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.SetOutput(stderr)
		fs.Usage()
		return errors.New("workflow inspect: want exactly one FILE")
	}
	asJSON := fs.Lookup("json").Value.(flag.Getter).Get().(bool)
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("workflow inspect: %w", err)
	}
	mgr := workflow.NewManagerData(workflow.ManagerOptions{
		CacheDir: fs.Lookup("manager-dir").Value.String(),
		SeedDir:  fs.Lookup("seed-dir").Value.String(),
	})
	if err := mgr.Load(ctx); err != nil {
		fmt.Fprintf(stderr, "warning: manager data: %v\n", err)
	}
	svc := workflow.NewService(workflow.Options{Manager: mgr})
	a, err := svc.Analyze(ctx, raw)
	if err != nil {
		return fmt.Errorf("workflow inspect %s: %w", fs.Arg(0), err)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(a.Metadata)
	}
	return workflow.WriteTable(stdout, a.Metadata)
}
