package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/managerdata"
	"github.com/comfylauncher/launcher/agent/internal/workflow"
)

const workflowUsage = `Usage: launcher workflow inspect [flags] FILE

Print what a ComfyUI workflow needs: its nodes, the model files it loads (by folder), the custom
node packs it uses, an estimate of its VRAM and its workflow type. FILE is a workflow in UI or
API format, or a wrapper around one (launcher.json, {"prompt": ...}, RunPod's {"input": ...}).
Works offline: node packs are resolved with the ComfyUI-Manager data the agent of --config has
cached (load a copy with 'launcher manager-data import').

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
	fs.String("config", "", "config file whose ComfyUI-Manager cache (<paths.data_dir>/manager) is used, as the agent does (default ./launcher.toml if present, or $LAUNCHER_CONFIG)")
	fs.String("manager-dir", "", "read the ComfyUI-Manager data from this directory instead of the config's cache")
	return fs
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
	mgr, err := inspectManagerData(ctx, fs.Lookup("config").Value.String(), fs.Lookup("manager-dir").Value.String())
	if err != nil {
		return fmt.Errorf("workflow inspect: %w", err)
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

// inspectManagerData opens the Manager data the agent of the config uses (or dir, read as is:
// nothing is written there). It never downloads: inspect works offline.
func inspectManagerData(ctx context.Context, configPath, dir string) (*managerdata.Data, error) {
	opts := managerdata.Options{SeedDir: dir}
	if dir == "" {
		cfg, err := config.Load(configPath)
		if err != nil {
			return nil, err
		}
		opts = managerdata.OptionsFromConfig(cfg)
		opts.SeedDir = "" // seeding writes the cache; inspect only reads it
		if _, err := os.Stat(opts.CacheDir); err != nil {
			opts.CacheDir = "" // no cache yet: do not create one
		}
	}
	data := managerdata.New(opts)
	if err := data.Load(ctx); err != nil {
		return nil, fmt.Errorf("read the ComfyUI-Manager data: %w", err)
	}
	return data, nil
}
