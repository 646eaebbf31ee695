package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/bytesize"
)

const modelUsage = `Usage: launcher model COMMAND [flags]

Manage the shared model store of a running agent.

Commands:
  ls      list the models in the store (path, size, projects using it)
  pull    download a model into the store and show its progress
  rm      delete a model (refused while a project uses it, unless --force)
  dedupe  replace identical files stored twice by hard links

Every command takes --agent URL (default $LAUNCHER_AGENT or http://127.0.0.1:4000) and
--token TOKEN (default $LAUNCHER_TOKEN). Run 'launcher model COMMAND --help' for its flags.
`

// runModelCmd implements "launcher model ls|pull|rm|dedupe".
func runModelCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "model", modelUsage, []subcommand{
		{"ls", modelLs}, {"pull", modelPull}, {"rm", modelRm}, {"dedupe", modelDedupe},
	}, args, stdout, stderr)
}

// agentClient talks to a running agent's REST API.
type agentClient struct {
	base  string
	token string
	http  *http.Client
	// configPath is the agent's launcher.toml; its token file is read when no token is given.
	configPath string
	tokenRead  bool
}

// modelFlags returns the flag set of "launcher model NAME" with the common agent flags.
func modelFlags(name, usage string, stdout io.Writer) (*flag.FlagSet, *agentClient) {
	return agentFlags("model "+name, usage, stdout)
}

// parseFlags parses args; --help prints usage to stdout and returns flag.ErrHelp's nil.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (help bool, err error) {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err = fs.Parse(args)
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return true, nil
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		fs.SetOutput(stderr)
		fs.Usage()
		return false, withCode(exitUsage, err)
	}
	return false, nil
}

// apiError is the agent's error envelope.
type apiError struct {
	Status      int      `json:"-"`
	Message     string   `json:"error"`
	Suggestions []string `json:"suggestions"`
	Projects    []string `json:"projects"`
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("agent answered %d: %s", e.Status, e.Message)
	if len(e.Projects) > 0 {
		msg += " (" + strings.Join(e.Projects, ", ") + ")"
	}
	for _, s := range e.Suggestions {
		msg += "\n  hint: " + s
	}
	return msg
}

func (c *agentClient) do(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.base, "/")+path, rd)
	if err != nil {
		return 0, fmt.Errorf("bad --agent URL: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.resolveToken()
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, &unreachableError{c.base, err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 400 {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(data))
		}
		return resp.StatusCode, e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode agent answer: %w", err)
		}
	}
	return resp.StatusCode, nil
}

func modelLs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := modelFlags("ls", "Usage: launcher model ls [flags]\n\nList the models in the store.\n\nFlags:\n", stdout)
	asJSON := fs.Bool("json", false, "print the agent's JSON")
	folder := fs.String("folder", "", "only this folder key (checkpoints, loras, ...)")
	if help, err := parseFlags(fs, args, stderr); help || err != nil {
		return err
	}
	var list struct {
		Models []struct {
			Path           string   `json:"path"`
			Type           string   `json:"type"`
			SizeHuman      string   `json:"size_human"`
			SHA256         string   `json:"sha256"`
			UsedByProjects []string `json:"used_by_projects"`
		} `json:"models"`
		TotalCount     int    `json:"total_count"`
		TotalSizeHuman string `json:"total_size_human"`
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodGet, "/api/models", nil, &raw); err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(append(raw, '\n'))
		return err
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tTYPE\tSIZE\tSHA256\tUSED BY")
	for _, m := range list.Models {
		if *folder != "" && m.Type != *folder {
			continue
		}
		sha := m.SHA256
		if len(sha) > 12 {
			sha = sha[:12]
		} else if sha == "" {
			sha = "(hashing)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Path, m.Type, m.SizeHuman, sha, strings.Join(m.UsedByProjects, ","))
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d models, %s\n", list.TotalCount, list.TotalSizeHuman)
	return nil
}

const pullUsage = `Usage: launcher model pull [flags] URL|REFERENCE

Download a model into the agent's store and show its progress. REFERENCE is an http(s) URL,
hf:org/repo/path/file.safetensors@revision, civitai:<version id>, an AIR
(urn:air:sdxl:lora:civitai:<model>@<version>) or manager:<file name>. Ctrl-C stops watching;
the download continues in the agent (see GET /api/downloads).

Flags:
`

func modelPull(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := modelFlags("pull", pullUsage, stdout)
	folder := fs.String("folder", "checkpoints", "ComfyUI folder key (checkpoints, loras, vae, text_encoders, diffusion_models, ...)")
	filename := fs.String("filename", "", "file name in the folder (default: from the URL or source)")
	sha := fs.String("sha256", "", "expected SHA-256; the file is verified before it appears in the store")
	project := fs.String("project", "", "project id to report progress to")
	detach := fs.Bool("detach", false, "print the operation id and return without waiting")
	interval := fs.Duration("interval", 500*time.Millisecond, "progress poll interval")
	if help, err := parseFlags(fs, args, stderr); help || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.SetOutput(stderr)
		fs.Usage()
		return errors.New("model pull: want exactly one URL or reference")
	}
	ref := fs.Arg(0)
	body := map[string]any{"folder": *folder, "filename": *filename, "sha256": *sha, "project_id": *project}
	if u, err := url.Parse(ref); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		body["url"] = ref
	} else {
		body["source"] = ref
	}
	var sub struct {
		OperationID string `json:"operation_id"`
		Path        string `json:"path"`
		Status      string `json:"status"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/api/models/download", body, &sub); err != nil {
		return err
	}
	if sub.OperationID == "" {
		fmt.Fprintf(stdout, "%s is already in the store\n", sub.Path)
		return nil
	}
	if *detach {
		fmt.Fprintln(stdout, sub.OperationID)
		return nil
	}
	return watchDownload(ctx, c, sub.OperationID, *interval, stdout, stderr)
}

type downloadView struct {
	State           string  `json:"state"`
	Paused          bool    `json:"paused"`
	Path            string  `json:"path"`
	Progress        float64 `json:"progress"`
	BytesDownloaded int64   `json:"bytes_downloaded"`
	TotalBytes      int64   `json:"total_bytes"`
	SpeedBps        float64 `json:"speed_bps"`
	Attempt         int     `json:"attempt"`
	Error           string  `json:"error"`
	ErrorClass      string  `json:"error_class"`
	LinkedFrom      string  `json:"linked_from"`
}

// watchDownload polls GET /api/downloads/{id} and redraws a one-line progress bar.
func watchDownload(ctx context.Context, c *agentClient, id string, every time.Duration, stdout, stderr io.Writer) error {
	t := time.NewTicker(every)
	defer t.Stop()
	last := ""
	for {
		var v downloadView
		if _, err := c.do(ctx, http.MethodGet, "/api/downloads/"+id, nil, &v); err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(stderr, "\nstopped watching; the download %s continues in the agent\n", id)
				return nil
			}
			return err
		}
		line := progressLine(v)
		if line != last {
			fmt.Fprintf(stderr, "\r%s", line)
			last = line
		}
		switch v.State {
		case "success":
			fmt.Fprintln(stderr)
			if v.LinkedFrom != "" {
				fmt.Fprintf(stdout, "%s: linked to the identical %s (no bytes downloaded)\n", v.Path, v.LinkedFrom)
			} else {
				fmt.Fprintf(stdout, "%s: downloaded and verified\n", v.Path)
			}
			return nil
		case "failed", "exhausted", "cancelled":
			fmt.Fprintln(stderr)
			if v.Paused {
				return fmt.Errorf("download %s is paused (resume with POST /api/downloads/%s/resume)", id, id)
			}
			return fmt.Errorf("download %s %s: %s [%s]", id, v.State, v.Error, v.ErrorClass)
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(stderr, "\nstopped watching; the download %s continues in the agent\n", id)
			return nil
		case <-t.C:
		}
	}
}

func progressLine(v downloadView) string {
	const width = 30
	filled := int(v.Progress / 100 * width)
	filled = max(0, min(width, filled))
	bar := strings.Repeat("#", filled) + strings.Repeat("-", width-filled)
	total := "?"
	if v.TotalBytes > 0 {
		total = bytesize.Format(v.TotalBytes)
	}
	s := fmt.Sprintf("[%s] %5.1f%%  %s / %s  %s/s  %s", bar, v.Progress, bytesize.Format(v.BytesDownloaded), total, bytesize.Format(int64(v.SpeedBps)), v.State)
	if v.State == "recovering" && v.Error != "" {
		s += " (retrying: " + v.ErrorClass + ")"
	}
	return s + "   "
}

func modelRm(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := modelFlags("rm", "Usage: launcher model rm [flags] PATH\n\nDelete a model, e.g. checkpoints/model.safetensors.\n\nFlags:\n", stdout)
	force := fs.Bool("force", false, "delete even if projects use the model")
	if help, err := parseFlags(fs, args, stderr); help || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.SetOutput(stderr)
		fs.Usage()
		return errors.New("model rm: want exactly one PATH")
	}
	p := "/api/models/" + escapeModelPath(fs.Arg(0))
	if *force {
		p += "?force=true"
	}
	var out struct {
		Message string `json:"message"`
	}
	if _, err := c.do(ctx, http.MethodDelete, p, nil, &out); err != nil {
		return err
	}
	fmt.Fprintln(stdout, out.Message)
	return nil
}

func escapeModelPath(p string) string {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

func modelDedupe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := modelFlags("dedupe", "Usage: launcher model dedupe [flags]\n\nReplace identical files stored twice by hard links to one copy.\nEvery file is verified by sha256 first.\n\nFlags:\n", stdout)
	dry := fs.Bool("dry-run", false, "only report what would be linked")
	if help, err := parseFlags(fs, args, stderr); help || err != nil {
		return err
	}
	var rep struct {
		Groups []struct {
			SHA256 string   `json:"sha256"`
			Paths  []string `json:"paths"`
		} `json:"groups"`
		FilesLinked    int      `json:"files_linked"`
		ReclaimedHuman string   `json:"bytes_reclaimed_human"`
		Errors         []string `json:"errors"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/api/models/dedupe", map[string]any{"dry_run": *dry}, &rep); err != nil {
		return err
	}
	for _, g := range rep.Groups {
		fmt.Fprintf(stdout, "%s  %s\n", g.SHA256[:12], strings.Join(g.Paths, "  "))
	}
	verb := "linked"
	if *dry {
		verb = "would link"
	}
	fmt.Fprintf(stdout, "%s %d files, reclaiming %s\n", verb, rep.FilesLinked, rep.ReclaimedHuman)
	for _, e := range rep.Errors {
		fmt.Fprintln(stderr, "error:", e)
	}
	if len(rep.Errors) > 0 {
		return fmt.Errorf("model dedupe: %d files could not be linked", len(rep.Errors))
	}
	return nil
}
