package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

func init() {
	extraCommands["project"] = command{runProjectCmd, "ls|create|import|start|stop|restart|retry|rm|logs: projects of a running agent"}
	extraCommands["ops"] = command{runOpsCmd, "ls|show|retry|cancel: durable operations of a running agent"}
}

const agentFlagsHelp = `Every command takes --agent URL (default $LAUNCHER_AGENT or http://127.0.0.1:4000), --token
TOKEN (default $LAUNCHER_TOKEN, else the token file of the agent's launcher.toml, see --config)
and --json (print the agent's JSON answer).

Exit codes: 0 done, 1 the agent refused or the job failed, 2 bad usage, 3 agent unreachable,
4 token missing or wrong, 5 no such project or operation, 6 not possible in the current state.
`

const projectUsage = `Usage: launcher project COMMAND [flags]

Manage the projects of a running agent.

Commands:
  ls                 list projects with their state and port
  create NAME        create a project and wait for its install (--detach returns at once)
  import FILE        create a project from a workflow or launcher JSON file and wait for its install
  start ID           start ComfyUI and wait until it answers
  stop ID            stop ComfyUI
  restart ID         restart ComfyUI and wait until it answers
  retry ID           retry a failed install or start
  rm ID              delete the project and its folder
  logs ID [-f]       print the project's log; -f follows new lines

` + agentFlagsHelp + `Run 'launcher project COMMAND --help' for its flags.
`

// subcommand is one "launcher project X" or "launcher ops X".
type subcommand struct {
	name string
	run  func(context.Context, []string, io.Writer, io.Writer) error
}

// dispatch runs the subcommand args[0] of group, printing usage once for --help.
func dispatch(ctx context.Context, group, usage string, subs []subcommand, args []string, stdout, stderr io.Writer) error {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageErr("%s: missing command (%s)", group, strings.Join(names, ", "))
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprint(stderr, usage)
	return usageErr("%s: unknown command %q (want %s)", group, args[0], oneOf(names))
}

// oneOf lists names as "a, b or c".
func oneOf(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func runProjectCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "project", projectUsage, []subcommand{
		{"ls", projectLs}, {"create", projectCreate}, {"import", projectImport},
		{"start", projectAction("start", "Start ComfyUI and wait until it answers.", true)},
		{"stop", projectAction("stop", "Stop ComfyUI.", false)},
		{"restart", projectAction("restart", "Restart ComfyUI and wait until it answers.", true)},
		{"retry", projectAction("retry", "Retry the failed install or start of a project and wait for it.", true)},
		{"rm", projectRm}, {"logs", projectLogs},
	}, args, stdout, stderr)
}

// projectView is the part of the agent's project object the CLI shows.
type projectView struct {
	ID    string `json:"id"`
	Port  *int   `json:"port"`
	URL   string `json:"url"`
	State struct {
		Name          string   `json:"name"`
		State         string   `json:"state"`
		StatusMessage string   `json:"status_message"`
		Error         string   `json:"error"`
		FailedStep    string   `json:"failed_step"`
		Suggestions   []string `json:"suggestions"`
		Progress      *struct {
			Stage       string  `json:"stage"`
			Progress    float64 `json:"progress"`
			CurrentFile string  `json:"current_file"`
		} `json:"progress"`
	} `json:"state"`
}

// call runs one request; with asJSON it prints the agent's answer as is, else decodes it into out.
func call(ctx context.Context, c *agentClient, method, path string, body any, asJSON bool, stdout io.Writer, out any) (printed bool, err error) {
	var raw json.RawMessage
	if _, err := c.do(ctx, method, path, body, &raw); err != nil {
		return false, err
	}
	if asJSON {
		_, err := stdout.Write(append(raw, '\n'))
		return true, err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return false, fmt.Errorf("decode agent answer: %w", err)
		}
	}
	return false, nil
}

func projectLs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := agentFlags("project ls", "Usage: launcher project ls [flags]\n\nList the projects.\n\nFlags:\n", stdout)
	asJSON := fs.Bool("json", false, "print the agent's JSON")
	if help, err := parseFlags(fs, args, stderr); help || err != nil {
		return err
	}
	var list []projectView
	if printed, err := call(ctx, c, http.MethodGet, "/api/projects", nil, *asJSON, stdout, &list); printed || err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tPORT\tURL")
	for _, p := range list {
		port := "-"
		if p.Port != nil {
			port = fmt.Sprint(*p.Port)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.ID, p.State.Name, p.State.State, port, p.URL)
	}
	return tw.Flush()
}

// waitFlags are the flags of the commands that wait for a project to settle.
type waitFlags struct {
	detach   *bool
	interval *time.Duration
	timeout  *time.Duration
}

func addWaitFlags(fs interface {
	Bool(string, bool, string) *bool
	Duration(string, time.Duration, string) *time.Duration
}) waitFlags {
	return waitFlags{
		detach:   fs.Bool("detach", false, "return at once instead of waiting"),
		interval: fs.Duration("interval", 500*time.Millisecond, "progress poll interval"),
		timeout:  fs.Duration("timeout", 2*time.Hour, "give up waiting after this long (the job goes on in the agent)"),
	}
}

const createUsage = `Usage: launcher project create [flags] NAME

Create a project (a ComfyUI checkout with its venv) and wait until it is installed, showing the
install progress. Exits 1 when the install fails, with the agent's reason and suggestions.

Flags:
`

func projectCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := agentFlags("project create", createUsage, stdout)
	asJSON := fs.Bool("json", false, "print the agent's JSON answers")
	template := fs.String("template", "", "template id (default: plain ComfyUI)")
	port := fs.Int("port", 0, "fixed port for ComfyUI (default: any free port of the agent's range)")
	restart := fs.String("restart", "", "restart policy: never, on-failure or always")
	w := addWaitFlags(fs)
	if help, err := parseFlags(fs, args, stderr); help || err != nil {
		return err
	}
	if err := wantOneArg(fs, stderr, "project create: want exactly one NAME"); err != nil {
		return err
	}
	body := map[string]any{"name": fs.Arg(0), "template_id": *template, "restart": *restart}
	if *port != 0 {
		body["port"] = *port
	}
	return createAndWait(ctx, c, "/api/create_project", body, *asJSON, w, stdout, stderr)
}

func projectImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := agentFlags("project import", "Usage: launcher project import [flags] FILE\n\nCreate a project from a ComfyUI workflow (UI or API format) or a launcher JSON file and wait\nuntil it is installed.\n\nFlags:\n", stdout)
	asJSON := fs.Bool("json", false, "print the agent's JSON answers")
	name := fs.String("name", "", "project name (default: the file name)")
	skip := fs.Bool("skip-model-validation", false, "create the project even if models cannot be resolved")
	w := addWaitFlags(fs)
	if help, err := parseFlags(fs, args, stderr); help || err != nil {
		return err
	}
	if err := wantOneArg(fs, stderr, "project import: want exactly one FILE"); err != nil {
		return err
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("project import: %w", err))
	}
	if !json.Valid(raw) {
		return usageErr("project import: %s is not JSON (want a workflow or launcher JSON file)", fs.Arg(0))
	}
	n := *name
	if n == "" {
		n = strings.TrimSuffix(filepathBase(fs.Arg(0)), ".json")
	}
	body := map[string]any{"name": n, "import_json": json.RawMessage(raw), "skipping_model_validation": *skip}
	return createAndWait(ctx, c, "/api/import_project", body, *asJSON, w, stdout, stderr)
}

func filepathBase(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

func createAndWait(ctx context.Context, c *agentClient, path string, body map[string]any, asJSON bool, w waitFlags, stdout, stderr io.Writer) error {
	var created struct {
		ID string `json:"id"`
	}
	if _, err := call(ctx, c, http.MethodPost, path, body, false, stdout, &created); err != nil {
		return err
	}
	if *w.detach {
		if asJSON {
			return json.NewEncoder(stdout).Encode(map[string]any{"id": created.ID})
		}
		fmt.Fprintln(stdout, created.ID)
		return nil
	}
	fmt.Fprintf(stderr, "created project %s; installing\n", created.ID)
	return waitProject(ctx, c, created.ID, []string{"ready"}, asJSON, w, stdout, stderr)
}

// waitProject polls the project until it reaches one of want (exit 0) or failed (exit 1),
// drawing the install progress.
func waitProject(ctx context.Context, c *agentClient, id string, want []string, asJSON bool, w waitFlags, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, *w.timeout)
	defer cancel()
	bar := newProgressPrinter(stderr)
	t := time.NewTicker(*w.interval)
	defer t.Stop()
	for {
		var raw json.RawMessage
		if _, err := c.do(ctx, http.MethodGet, "/api/projects/"+url.PathEscape(id), nil, &raw); err != nil {
			if ctx.Err() != nil {
				bar.done()
				return fmt.Errorf("stopped waiting for project %s (it goes on in the agent): %w", id, context.Cause(ctx))
			}
			return err
		}
		var p projectView
		if err := json.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("decode agent answer: %w", err)
		}
		if p.State.Progress != nil && p.State.State != "ready" && p.State.State != "running" {
			bar.show(p.State.Progress.Progress, p.State.State, p.State.Progress.CurrentFile)
		}
		switch {
		case contains(want, p.State.State):
			bar.done()
			if asJSON {
				_, err := stdout.Write(append(raw, '\n'))
				return err
			}
			msg := fmt.Sprintf("project %s is %s", id, p.State.State)
			if p.Port != nil && p.State.State == "running" {
				msg += fmt.Sprintf(" on port %d (%s)", *p.Port, p.URL)
			}
			fmt.Fprintln(stdout, msg)
			return nil
		case p.State.State == "failed":
			bar.done()
			if asJSON {
				stdout.Write(append(raw, '\n'))
			}
			msg := fmt.Sprintf("project %s failed at %s: %s", id, p.State.FailedStep, p.State.Error)
			for _, s := range p.State.Suggestions {
				msg += "\n  hint: " + s
			}
			return withCode(exitFailure, errors.New(msg))
		}
		select {
		case <-ctx.Done():
			bar.done()
			return fmt.Errorf("stopped waiting for project %s in state %s (it goes on in the agent): %w", id, p.State.State, ctx.Err())
		case <-t.C:
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// progressPrinter draws install progress: a bar redrawn in place on a terminal, a plain line
// per change of stage or whole percent elsewhere (pipes, files, CI logs).
type progressPrinter struct {
	w    io.Writer
	tty  bool
	last string
	drew bool
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	return &progressPrinter{w: w, tty: isTerminal(w)}
}

func (p *progressPrinter) show(pct float64, stage, file string) {
	if p.tty {
		const width = 30
		filled := max(0, min(width, int(pct/100*width)))
		line := fmt.Sprintf("\r[%s%s] %5.1f%%  %s  %s   ", strings.Repeat("#", filled), strings.Repeat("-", width-filled), pct, stage, file)
		if line != p.last {
			fmt.Fprint(p.w, line)
			p.last, p.drew = line, true
		}
		return
	}
	line := fmt.Sprintf("%3d%% %s %s", int(pct), stage, file)
	if line != p.last {
		fmt.Fprintln(p.w, strings.TrimSpace(line))
		p.last = line
	}
}

func (p *progressPrinter) done() {
	if p.tty && p.drew {
		fmt.Fprintln(p.w)
		p.drew = false
	}
}

// projectAction is start, stop, restart or retry; wait makes it wait for the result.
func projectAction(verb, help string, wait bool) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		usage := fmt.Sprintf("Usage: launcher project %s [flags] ID\n\n%s\n\nFlags:\n", verb, help)
		fs, c := agentFlags("project "+verb, usage, stdout)
		asJSON := fs.Bool("json", false, "print the agent's JSON answer")
		var w waitFlags
		if wait {
			w = addWaitFlags(fs)
		}
		if help, err := parseFlags(fs, args, stderr); help || err != nil {
			return err
		}
		if fs.NArg() != 1 {
			fs.SetOutput(stderr)
			fs.Usage()
			return usageErr("project %s: want exactly one project ID", verb)
		}
		id := fs.Arg(0)
		var res struct {
			State string `json:"state"`
		}
		printed, err := call(ctx, c, http.MethodPost, "/api/projects/"+url.PathEscape(id)+"/"+verb, nil, *asJSON && (!wait || *w.detach), stdout, &res)
		if printed || err != nil {
			return err
		}
		if !wait || *w.detach {
			fmt.Fprintf(stdout, "project %s is %s\n", id, res.State)
			return nil
		}
		target := []string{"running"}
		if verb == "retry" {
			target = []string{"ready", "running"}
		}
		return waitProject(ctx, c, id, target, *asJSON, w, stdout, stderr)
	}
}

func projectRm(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := agentFlags("project rm", "Usage: launcher project rm [flags] ID\n\nDelete a project: it is stopped, its install cancelled and its folder removed.\n\nFlags:\n", stdout)
	asJSON := fs.Bool("json", false, "print the agent's JSON answer")
	if help, err := parseFlags(fs, args, stderr); help || err != nil {
		return err
	}
	if err := wantOneArg(fs, stderr, "project rm: want exactly one project ID"); err != nil {
		return err
	}
	printed, err := call(ctx, c, http.MethodPost, "/api/projects/"+url.PathEscape(fs.Arg(0))+"/delete", nil, *asJSON, stdout, nil)
	if printed || err != nil {
		return err
	}
	fmt.Fprintf(stdout, "project %s deleted\n", fs.Arg(0))
	return nil
}

type logEntry struct {
	Timestamp string `json:"timestamp"`
	Level     string `json:"level"`
	Message   string `json:"message"`
}

type logPage struct {
	Logs       []json.RawMessage `json:"logs"`
	Pagination struct {
		Total int `json:"total"`
	} `json:"pagination"`
}

// logPageSize is the agent's largest page.
const logPageSize = 1000

func projectLogs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := agentFlags("project logs", "Usage: launcher project logs [flags] ID\n\nPrint a project's log (install steps, ComfyUI output), oldest first. -f keeps printing new\nentries until Ctrl-C.\n\nFlags:\n", stdout)
	asJSON := fs.Bool("json", false, "print one JSON object per entry")
	follow := fs.Bool("f", false, "follow: keep printing new entries")
	level := fs.String("level", "", "only info, warning or error entries")
	interval := fs.Duration("interval", time.Second, "poll interval with -f")
	if help, err := parseFlags(fs, args, stderr); help || err != nil {
		return err
	}
	if err := wantOneArg(fs, stderr, "project logs: want exactly one project ID"); err != nil {
		return err
	}
	id := fs.Arg(0)
	seen := 0
	t := time.NewTicker(*interval)
	defer t.Stop()
	for {
		for {
			q := url.Values{"page": {fmt.Sprint(seen/logPageSize + 1)}, "per_page": {fmt.Sprint(logPageSize)}}
			if *level != "" {
				q.Set("level", *level)
			}
			var page logPage
			if _, err := c.do(ctx, http.MethodGet, "/api/logs/"+url.PathEscape(id)+"?"+q.Encode(), nil, &page); err != nil {
				if *follow && ctx.Err() != nil {
					return nil // Ctrl-C ends -f
				}
				return err
			}
			if page.Pagination.Total < seen { // entries were pruned: start over at the oldest left
				seen = 0
				continue
			}
			skip := seen % logPageSize
			if skip > len(page.Logs) {
				skip = len(page.Logs)
			}
			for _, raw := range page.Logs[skip:] {
				if err := printLogEntry(stdout, raw, *asJSON); err != nil {
					return err
				}
			}
			seen += len(page.Logs) - skip
			if len(page.Logs) < logPageSize || seen >= page.Pagination.Total {
				break
			}
		}
		if !*follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func printLogEntry(w io.Writer, raw json.RawMessage, asJSON bool) error {
	if asJSON {
		_, err := w.Write(append(raw, '\n'))
		return err
	}
	var e logEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("decode log entry: %w", err)
	}
	_, err := fmt.Fprintf(w, "%s %-7s %s\n", e.Timestamp, e.Level, e.Message)
	return err
}
