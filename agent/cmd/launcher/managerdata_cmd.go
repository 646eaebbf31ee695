package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/managerdata"
)

func init() {
	extraCommands["manager-data"] = command{runManagerDataCmd, "status|import: the cached ComfyUI-Manager data (offline nodes)"}
}

const managerDataUsage = `Usage: launcher manager-data COMMAND [flags]

The ComfyUI-Manager data (extension-node-map.json, github-stats.json, model-list.json,
custom-node-list.json) resolves a workflow's custom node types to packs and names model URLs.
The agent downloads it from the [manager] URLs of launcher.toml and caches it under
<paths.data_dir>/manager. A node without internet needs a copy loaded by hand:

Commands:
  status                 show the cached files, their dates and what is missing
  import DIR|URL         load a copy of the files (a directory, or an http(s) URL of a folder
                         holding them) into the cache, dated with the files' own date

Both read the cache of --config (default ./launcher.toml or $LAUNCHER_CONFIG). import writes it
directly, so run it before 'launcher serve' starts; with --agent URL it asks a running agent
to import instead (DIR is then a folder inside the agent's [manager] import_root, by default
<paths.data_dir>/manager-import: copy the files there first).
`

// runManagerDataCmd implements "launcher manager-data status|import".
func runManagerDataCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "manager-data", managerDataUsage, []subcommand{
		{"status", managerDataStatus}, {"import", managerDataImport},
	}, args, stdout, stderr)
}

// managerDataFlags are the flags every manager-data command takes.
type managerDataFlags struct {
	fs         *flag.FlagSet
	configPath string
	asJSON     bool
}

func newManagerDataFlags(name, usage string, stdout io.Writer) *managerDataFlags {
	f := &managerDataFlags{fs: flag.NewFlagSet("manager-data "+name, flag.ContinueOnError)}
	f.fs.SetOutput(stdout)
	f.fs.StringVar(&f.configPath, "config", "", "config file (default ./launcher.toml if present, or $LAUNCHER_CONFIG)")
	f.fs.BoolVar(&f.asJSON, "json", false, "print the result as JSON")
	f.fs.Usage = func() {
		fmt.Fprint(f.fs.Output(), usage)
		f.fs.PrintDefaults()
	}
	return f
}

// localManagerData opens the cache of the config, as the agent would.
func localManagerData(ctx context.Context, configPath string) (*managerdata.Data, error) {
	cfg, err := config.Load(configPath)
	if err != nil {
		return nil, err
	}
	data := managerdata.New(managerdata.OptionsFromConfig(cfg))
	if err := data.Load(ctx); err != nil {
		return nil, fmt.Errorf("read the Manager data cache %s: %w", data.CacheDir(), err)
	}
	return data, nil
}

func managerDataStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newManagerDataFlags("status", "Usage: launcher manager-data status [--config PATH] [--json]\n\nShows the cached ComfyUI-Manager files of the config's data directory.\n\nFlags:\n", stdout)
	if help, err := parseFlags(f.fs, args, stderr); help || err != nil {
		return err
	}
	if f.fs.NArg() != 0 {
		return fmt.Errorf("manager-data status: unexpected argument %q", f.fs.Arg(0))
	}
	data, err := localManagerData(ctx, f.configPath)
	if err != nil {
		return err
	}
	st := data.Status()
	if f.asJSON {
		return writeIndentedJSON(stdout, st)
	}
	return writeManagerStatus(stdout, st)
}

func managerDataImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newManagerDataFlags("import", `Usage: launcher manager-data import [flags] DIR|URL

Loads a copy of ComfyUI-Manager's data files into the agent's cache: DIR is a directory holding
extension-node-map.json, github-stats.json, model-list.json and custom-node-list.json (a
ComfyUI-Manager checkout, or another agent's <data_dir>/manager); URL an http(s) folder serving
them. Each file keeps its own date (the copy's meta.json, else its modification time, else the
server's Last-Modified) unless --date is given; manager.max_age counts from that date.

Flags:
`, stdout)
	date := f.fs.String("date", "", "date the copy was made (2026-11-30 or RFC 3339), overriding the files' own date")
	agent := f.fs.String("agent", "", "import through a running agent's API instead (e.g. http://127.0.0.1:4000); DIR is then a folder inside its [manager] import_root")
	token := f.fs.String("token", "", "API token for --agent (default $LAUNCHER_TOKEN)")
	if help, err := parseFlags(f.fs, args, stderr); help || err != nil {
		return err
	}
	if f.fs.NArg() != 1 {
		f.fs.SetOutput(stderr)
		f.fs.Usage()
		return errors.New("manager-data import: want exactly one DIR or URL")
	}
	src := f.fs.Arg(0)
	if !strings.Contains(src, "://") {
		abs, err := filepath.Abs(src)
		if err != nil {
			return fmt.Errorf("manager-data import: %w", err)
		}
		src = abs
	}
	var at time.Time
	if *date != "" {
		t, err := parseImportDate(*date)
		if err != nil {
			return err
		}
		at = t
	}
	if *agent != "" {
		return managerDataImportRemote(ctx, *agent, *token, src, at, f.asJSON, stdout)
	}
	data, err := localManagerData(ctx, f.configPath)
	if err != nil {
		return err
	}
	res, err := data.Import(ctx, src, at)
	if errors.Is(err, managerdata.ErrBadSource) {
		return fmt.Errorf("manager-data import: %w\n  hint: give a directory or http(s) folder holding %s", err, strings.Join(managerdata.Files, ", "))
	}
	if err != nil {
		return fmt.Errorf("manager-data import into %s: %w (check that paths.data_dir is writable)", data.CacheDir(), err)
	}
	if f.asJSON {
		return writeIndentedJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "imported %d of %d files from %s into %s\n", len(res.Imported), len(managerdata.Files), src, data.CacheDir())
	if len(res.Missing) > 0 {
		fmt.Fprintf(stdout, "not in the copy (the cache keeps what it had): %s\n", strings.Join(res.Missing, ", "))
	}
	fmt.Fprintln(stdout, "a running agent reads the cache at its next start; use --agent to load it into one now")
	return writeManagerStatus(stdout, data.Status())
}

func parseImportDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("manager-data import: --date %q is neither a date (2026-11-30) nor an RFC 3339 time (2026-11-30T12:00:00Z)", s)
}

func managerDataImportRemote(ctx context.Context, agent, token, src string, at time.Time, asJSON bool, stdout io.Writer) error {
	if token == "" {
		token = os.Getenv("LAUNCHER_TOKEN")
	}
	c := &agentClient{base: agent, token: token, http: &http.Client{Timeout: 10 * time.Minute}}
	body := map[string]string{"source": src}
	if !at.IsZero() {
		body["fetched_at"] = at.UTC().Format(time.RFC3339)
	}
	var out struct {
		Import managerdata.ImportResult `json:"import"`
		Status managerdata.Status       `json:"status"`
	}
	if _, err := c.do(ctx, "POST", "/api/manager-data/import", body, &out); err != nil {
		return fmt.Errorf("manager-data import: %w", err)
	}
	if asJSON {
		return writeIndentedJSON(stdout, out.Import)
	}
	fmt.Fprintf(stdout, "the agent at %s imported %d of %d files from %s\n", agent, len(out.Import.Imported), len(managerdata.Files), src)
	return writeManagerStatus(stdout, out.Status)
}

func writeManagerStatus(w io.Writer, st managerdata.Status) error {
	fmt.Fprintf(w, "state: %s (cache %s, manager.max_age %s)\n", st.State, st.CacheDir, st.MaxAge)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tDATE\tSTALE\tSOURCE")
	for _, f := range st.Files {
		date := "not cached"
		if f.Present {
			date = f.FetchedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", f.Name, date, f.Stale, f.Source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range st.Warnings {
		fmt.Fprintf(w, "  - %s\n", s)
	}
	return nil
}

func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
