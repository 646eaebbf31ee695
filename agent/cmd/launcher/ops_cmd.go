package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

const opsUsage = `Usage: launcher ops COMMAND [flags]

Inspect and steer the durable operations of a running agent (installs, downloads, ...).

Commands:
  ls           list operations, newest first (--state, --function, --limit)
  show ID      show one operation with its steps
  retry ID     retry a failed or exhausted operation
  cancel ID    cancel an operation that has not finished

` + agentFlagsHelp + `Run 'launcher ops COMMAND --help' for its flags.
`

func runOpsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "ops", opsUsage, []subcommand{
		{"ls", opsLs}, {"show", opsShow},
		{"retry", opsAction("retry", "Retry a failed or exhausted operation from its first unfinished step.")},
		{"cancel", opsAction("cancel", "Cancel an operation that has not finished.")},
	}, args, stdout, stderr)
}

func opsLs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := agentFlags("ops ls", "Usage: launcher ops ls [flags]\n\nList operations, newest first.\n\nFlags:\n", stdout)
	asJSON := fs.Bool("json", false, "print the agent's JSON")
	state := fs.String("state", "", "only these states, comma-separated (pending, in_progress, recovering, success, failed, exhausted, cancelled)")
	function := fs.String("function", "", "only this operation type, e.g. install_project or download_model")
	limit := fs.Int("limit", 0, "at most this many")
	if help, err := parseFlags(fs, args, stderr); help || err != nil {
		return err
	}
	q := url.Values{}
	if *state != "" {
		q.Set("state", *state)
	}
	if *function != "" {
		q.Set("function", *function)
	}
	if *limit > 0 {
		q.Set("limit", fmt.Sprint(*limit))
	}
	var list struct {
		Operations []recovery.Operation `json:"operations"`
	}
	if printed, err := call(ctx, c, http.MethodGet, "/api/recovery/operations?"+q.Encode(), nil, *asJSON, stdout, &list); printed || err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFUNCTION\tSTATE\tATTEMPT\tUPDATED\tERROR")
	for _, op := range list.Operations {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", op.ID, op.FunctionName, op.State, op.Attempt, op.MaxAttempts,
			op.UpdatedAt.Local().Format(time.DateTime), oneLine(op.Error, 60))
	}
	return tw.Flush()
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n-1] + "…"
	}
	return s
}

func opsShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := agentFlags("ops show", "Usage: launcher ops show [flags] ID\n\nShow one operation with its steps and last error.\n\nFlags:\n", stdout)
	asJSON := fs.Bool("json", false, "print the agent's JSON")
	if help, err := parseFlags(fs, args, stderr); help || err != nil {
		return err
	}
	if err := wantOneArg(fs, stderr, "ops show: want exactly one operation ID"); err != nil {
		return err
	}
	var res struct {
		Operation recovery.Operation `json:"operation"`
	}
	if printed, err := call(ctx, c, http.MethodGet, "/api/recovery/operations/"+url.PathEscape(fs.Arg(0)), nil, *asJSON, stdout, &res); printed || err != nil {
		return err
	}
	op := res.Operation
	fmt.Fprintf(stdout, "operation %s (%s): %s, attempt %d of %d, %d attempts in all\n", op.ID, op.FunctionName, op.State, op.Attempt, op.MaxAttempts, op.TotalAttempts)
	fmt.Fprintf(stdout, "created %s, updated %s\n", op.CreatedAt.Local().Format(time.DateTime), op.UpdatedAt.Local().Format(time.DateTime))
	for _, s := range op.Steps {
		line := fmt.Sprintf("  step %-20s %-12s attempts %d", s.Name, s.State, s.Attempts)
		if s.Error != "" {
			line += "  " + oneLine(s.Error, 80)
		}
		fmt.Fprintln(stdout, line)
	}
	if op.Error != "" {
		fmt.Fprintf(stdout, "error [%s]: %s\n", op.ErrorClass, op.Error)
	}
	for _, s := range op.Suggestions {
		fmt.Fprintln(stdout, "  hint:", s)
	}
	return nil
}

func opsAction(verb, help string) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs, c := agentFlags("ops "+verb, fmt.Sprintf("Usage: launcher ops %s [flags] ID\n\n%s\n\nFlags:\n", verb, help), stdout)
		asJSON := fs.Bool("json", false, "print the agent's JSON answer")
		var force *bool
		if verb == "retry" {
			force = fs.Bool("force", false, "retry even while the target's circuit breaker is open")
		}
		if help, err := parseFlags(fs, args, stderr); help || err != nil {
			return err
		}
		if fs.NArg() != 1 {
			fs.SetOutput(stderr)
			fs.Usage()
			return usageErr("ops %s: want exactly one operation ID", verb)
		}
		var body any
		if force != nil && *force {
			body = map[string]any{"force": true}
		}
		var res map[string]any
		if printed, err := call(ctx, c, http.MethodPost, "/api/recovery/operations/"+url.PathEscape(fs.Arg(0))+"/"+verb, body, *asJSON, stdout, &res); printed || err != nil {
			return err
		}
		msg := fmt.Sprintf("operation %s: %s requested", fs.Arg(0), verb)
		if id, ok := res["retry_id"].(string); ok && id != "" {
			msg += " (retry " + id + ")"
		}
		fmt.Fprintln(stdout, msg)
		return nil
	}
}
