package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	toml "github.com/pelletier/go-toml/v2"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/agent/internal/extension/pluginhost"
	"github.com/comfylauncher/launcher/agent/internal/extension/wasmhost"
	"github.com/comfylauncher/launcher/agent/internal/workflow"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
	sdkplugin "github.com/comfylauncher/launcher/sdk/plugin"
)

func init() {
	extraCommands["ext"] = command{runExtCmd, "ls|test: list a running agent's extensions, or check a WASM module"}
}

const extUsage = `Usage: launcher ext COMMAND [flags]

Commands:
  ls    list the extensions of a running agent: state, capabilities, calls, errors, last error
  test  load a WASM module without an agent, run the ABI checks, call each declared
        capability and print what to fix: launcher ext test FILE [--config TOML] [--input JSON]

Run 'launcher ext COMMAND --help' for its flags.
`

// runExtCmd implements "launcher ext ls|test".
func runExtCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "ext", extUsage, []subcommand{{"ls", extLs}, {"test", extTest}}, args, stdout, stderr)
}

func extLs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := agentFlags("ext ls", "Usage: launcher ext ls [flags]\n\nList the running agent's extensions.\n\nFlags:\n", stdout)
	asJSON := fs.Bool("json", false, "print the agent's JSON answer")
	if help, err := parseFlags(fs, args, stderr); help || err != nil {
		return err
	}
	var list struct {
		Extensions []extension.Status          `json:"extensions"`
		Order      map[sdk.Capability][]string `json:"order"`
		Warnings   []string                    `json:"warnings"`
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, "GET", "/api/extensions", nil, &raw); err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(append(raw, '\n'))
		return err
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("decode agent answer: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tVERSION\tCAPABILITIES\tCALLS\tERRORS\tTIMEOUTS\tP99 MS\tLAST ERROR")
	for _, e := range list.Extensions {
		caps := make([]string, 0, len(e.Capabilities))
		for _, c := range e.Capabilities {
			caps = append(caps, string(c))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%.2f\t%s\n", e.ID, e.State, dash(e.Version), dash(strings.Join(caps, ",")),
			e.Stats.Calls, e.Stats.Errors, e.Stats.Timeouts, e.Stats.P99Ms, oneLine(e.LastError, 100))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range sdk.Capabilities {
		fmt.Fprintf(stdout, "%s order: %s\n", c, strings.Join(list.Order[c], " → "))
	}
	for _, w := range list.Warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// testable is a loaded extension ext test can call with raw JSON: a WASM module or a plugin.
type testable interface {
	Manifest() sdk.Manifest
	Call(ctx context.Context, c sdk.Capability, input []byte) ([]byte, error)
}

// isWASMFile reports whether the file is meant as a WebAssembly module (its magic, or its
// name); anything else is tried as a plugin executable.
func isWASMFile(name string, data []byte) bool {
	return bytes.HasPrefix(data, []byte("\x00asm")) || strings.EqualFold(filepath.Ext(name), ".wasm")
}

// extTestFailed is returned when a check failed; the report already says what.
type extTestFailed struct{ n int }

func (e extTestFailed) Error() string { return fmt.Sprintf("ext test: %d check(s) failed", e.n) }
func (e extTestFailed) ExitCode() int { return 1 }

// sampleInputs are what ext test sends a capability when --input does not say.
var sampleInputs = map[sdk.Capability]string{
	sdk.CapWorkflowParser:   `{"1":{"class_type":"CheckpointLoaderSimple","inputs":{"ckpt_name":"sd_xl_base_1.0.safetensors"}}}`,
	sdk.CapModelSource:      `{"reference":"hf:stabilityai/stable-diffusion-xl-base-1.0/sd_xl_base_1.0.safetensors","query":{"name":"sd_xl_base_1.0.safetensors","folder":"checkpoints"}}`,
	sdk.CapRecoveryStrategy: `{"class":"unknown","message":"ERROR: No matching distribution found for torch==9.9","attempt":1,"function_name":"install_project"}`,
}

func extTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ext test", flag.ContinueOnError)
	fs.SetOutput(stdout)
	cfgArg := fs.String("config", "", "the extension's config table: a TOML file, or inline TOML such as 'mirror = \"https://m\"'")
	inputArg := fs.String("input", "", "request JSON (a file or inline): for one capability the request itself (for a parser, a ComfyUI workflow); for several, an object keyed by capability")
	timeout := fs.Duration("timeout", wasmhost.DefaultTimeout, "per-call deadline")
	memoryMB := fs.Int("memory-mb", wasmhost.DefaultMemoryMB, "memory limit")
	maxOut := fs.Int("max-output-bytes", wasmhost.DefaultMaxOutputBytes, "output limit")
	verbose := fs.Bool("v", false, "print the module's log lines")
	useCache := fs.Bool("cache", true, "keep compiled code in the user cache directory")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: launcher ext test FILE [--config TOML] [--input JSON]\n\nLoad a WASM module or a plugin binary the way the agent does (no agent needed), run the ABI\nor handshake checks, call each declared capability and print what an author needs to fix.\n\n")
		fs.PrintDefaults()
	}
	// Flags may follow FILE.
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if help, err := parseFlags(fs, args, stderr); help || err != nil {
		return err
	}
	if file == "" && fs.NArg() > 0 {
		file = fs.Arg(0)
	}
	if file == "" {
		fs.SetOutput(stderr)
		fs.Usage()
		return errors.New("ext test: FILE is required (a .wasm module built with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared, or a plugin built with sdk/plugin)")
	}
	cfgJSON, err := configJSON(*cfgArg)
	if err != nil {
		return fmt.Errorf("ext test: --config: %w", err)
	}
	r := &report{w: stdout}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("ext test: %w", err)
	}
	h := sha256.Sum256(data)
	fmt.Fprintf(stdout, "extension %s\n  sha256 %s (put this in [[extensions]].sha256)\n", file, hex.EncodeToString(h[:]))

	logW := io.Discard
	if *verbose {
		logW = stderr
	}
	log := slog.New(slog.NewTextHandler(logW, nil))
	start := time.Now()
	var m testable
	if isWASMFile(file, data) {
		// A private on-disk cache makes the second run of an unchanged module fast.
		cacheDir := ""
		if d, err := os.UserCacheDir(); err == nil && *useCache {
			cacheDir = filepath.Join(d, "comfy-launcher", "wasm-cache")
		}
		host, err := wasmhost.New(wasmhost.Options{CacheDir: cacheDir, HostVersion: buildVersion(), Logger: log})
		if err != nil {
			return err
		}
		defer host.Close(context.Background())
		loaded, err := host.Open(ctx, extension.Spec{ID: "wasm.test", Name: "test", Path: file, Config: cfgJSON,
			Limits: extension.Limits{MemoryMB: *memoryMB, Timeout: *timeout, MaxOutputBytes: *maxOut}})
		if err != nil {
			r.fail("load", err.Error(), loadFix(err))
			return extTestFailed{r.failed}
		}
		m = loaded.(*wasmhost.Module)
		r.ok("load", fmt.Sprintf("compiled, exports and imports valid, ABI v%d, cmfy_init ok (%s)", sdk.ABIVersion, time.Since(start).Round(time.Millisecond)))
	} else {
		host := pluginhost.New(pluginhost.Options{HostVersion: buildVersion(), Logger: log})
		defer host.Close(context.Background())
		loaded, err := host.Open(ctx, extension.Spec{ID: "plugin.test", Name: "test", Path: file, SHA256: hex.EncodeToString(h[:]),
			Config: cfgJSON, Limits: extension.Limits{Timeout: *timeout}, Report: func(extension.State, error) {}})
		if err != nil {
			r.fail("load", err.Error(), loadFix(err))
			return extTestFailed{r.failed}
		}
		m = loaded.(*pluginhost.Plugin)
		r.ok("load", fmt.Sprintf("started, handshake and protocol v%d ok over mutual TLS, info and configure ok (%s)", sdkplugin.ProtocolVersion, time.Since(start).Round(time.Millisecond)))
	}
	man := m.Manifest()
	caps := make([]string, 0, len(man.Capabilities))
	for _, c := range man.Capabilities {
		caps = append(caps, string(c))
	}
	r.ok("manifest", fmt.Sprintf("%s %s, abi_minor %d, capabilities %s", man.Name, dash(man.Version), man.ABIMinor, strings.Join(caps, ", ")))
	if man.Version == "" {
		r.warn("manifest", "no version: pass one to wasm.SetInfo(name, version) so operators can tell builds apart")
	}
	inputs, err := parseInputs(*inputArg, man.Capabilities)
	if err != nil {
		return fmt.Errorf("ext test: --input: %w", err)
	}
	for _, c := range man.Capabilities {
		in := inputs[c]
		if c == sdk.CapWorkflowParser {
			req, err := workflow.ParseRequestFor(in, workflow.Limits{})
			if err != nil {
				return fmt.Errorf("ext test: --input for %s is not a workflow the agent can read: %w", c, err)
			}
			in, _ = json.Marshal(req)
		}
		t0 := time.Now()
		out, err := m.Call(ctx, c, in)
		took := time.Since(t0).Round(time.Microsecond)
		if err != nil {
			r.fail(string(c), err.Error(), callFix(err))
			continue
		}
		checkAnswer(r, c, out, took)
	}
	if r.failed > 0 {
		return extTestFailed{r.failed}
	}
	fmt.Fprintln(stdout, "all checks passed")
	return nil
}

// report prints check results.
type report struct {
	w      io.Writer
	failed int
}

func (r *report) ok(what, msg string)   { fmt.Fprintf(r.w, "  ok    %-18s %s\n", what, msg) }
func (r *report) warn(what, msg string) { fmt.Fprintf(r.w, "  warn  %-18s %s\n", what, msg) }
func (r *report) fail(what, msg, fix string) {
	r.failed++
	fmt.Fprintf(r.w, "  FAIL  %-18s %s\n", what, msg)
	if fix != "" {
		fmt.Fprintf(r.w, "        fix: %s\n", fix)
	}
}

func loadFix(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "magic cookie"), strings.Contains(msg, "plugin protocol version"):
		return "build the plugin with github.com/comfylauncher/launcher/sdk/plugin.Serve from this agent's version"
	case strings.Contains(msg, "is not executable"):
		return "chmod +x the plugin, or build it with go build"
	case strings.Contains(msg, "not a WebAssembly module"):
		return "build the module with: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o ext.wasm ."
	case strings.Contains(msg, "_initialize"):
		return "add -buildmode=c-shared: the agent needs a reactor module"
	case strings.Contains(msg, "ABI v"):
		return "rebuild against this agent's sdk/wasm"
	case strings.Contains(msg, "does not export"), strings.Contains(msg, "no manifest"):
		return "import github.com/comfylauncher/launcher/sdk/wasm and register the capability in init()"
	case strings.Contains(msg, "bad_config"), strings.Contains(msg, "config"):
		return "fix the config table (--config here, [[extensions]].config in launcher.toml)"
	case strings.Contains(msg, "over limit"):
		return "raise --memory-mb (limits.memory_mb); a standard Go module needs at least 4"
	}
	return ""
}

func callFix(err error) string {
	var ge *sdk.Error
	switch {
	case errors.As(err, &ge) && ge.Code == "panic":
		return "the handler panicked: the SDK turned it into an error, but fix the panic"
	case errors.As(err, &ge):
		return "the handler returned an error for this input; check --input or the handler"
	case errors.Is(err, extension.ErrTimeout):
		return "the call ran past --timeout: guests must not loop or sleep (the agent does the waiting)"
	case strings.Contains(err.Error(), "max_output_bytes"):
		return "return less, or raise limits.max_output_bytes"
	case strings.Contains(err.Error(), "out of memory"):
		return "the module ran out of memory: allocate less, or raise limits.memory_mb"
	}
	return "the instance crashed (trap or exit); run with -v to see its stderr"
}

// checkAnswer decodes out strictly as the capability's response and prints it.
func checkAnswer(r *report, c sdk.Capability, out []byte, took time.Duration) {
	strict := func(v any) error {
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.DisallowUnknownFields()
		return dec.Decode(v)
	}
	short := oneLine(string(out), 160)
	switch c {
	case sdk.CapWorkflowParser:
		var res sdk.ParseResult
		if err := strict(&res); err != nil {
			r.fail(string(c), "answer is not a ParseResult: "+err.Error(), "return sdk/extension.ParseResult")
			return
		}
		for _, m := range res.Models {
			if m.Filename == "" || m.Folder == "" {
				r.warn(string(c), fmt.Sprintf("model %+v lacks filename or folder: the agent cannot place it", m))
			}
		}
		r.ok(string(c), fmt.Sprintf("%d models, %d packs, %d tags, %d warnings in %s: %s", len(res.Models), len(res.Packs), len(res.Tags), len(res.Warnings), took, short))
	case sdk.CapModelSource:
		var res sdk.ResolveResponse
		if err := strict(&res); err != nil {
			r.fail(string(c), "answer is not a ResolveResponse: "+err.Error(), "return sdk/extension.ResolveResponse")
			return
		}
		for _, d := range res.Candidates {
			if !strings.HasPrefix(d.URL, "http://") && !strings.HasPrefix(d.URL, "https://") {
				r.warn(string(c), fmt.Sprintf("candidate URL %q is not http(s): the agent cannot download it", d.URL))
			}
		}
		if len(res.Candidates) == 0 {
			r.ok(string(c), fmt.Sprintf("not mine (no candidates) in %s; pass --input to try a reference it claims", took))
			return
		}
		r.ok(string(c), fmt.Sprintf("%d candidates in %s: %s", len(res.Candidates), took, short))
	case sdk.CapRecoveryStrategy:
		var d sdk.StrategyDecision
		if err := strict(&d); err != nil {
			r.fail(string(c), "answer is not a StrategyDecision: "+err.Error(), "return sdk/extension.StrategyDecision")
			return
		}
		known := map[string]bool{"": true, "network": true, "timeout": true, "resource": true, "permission": true, "not_found": true, "auth": true, "integrity": true, "cancelled": true, "unknown": true}
		if !known[d.Class] {
			r.warn(string(c), fmt.Sprintf("class %q is not one of the agent's classes: it will be ignored", d.Class))
		}
		r.ok(string(c), fmt.Sprintf("decided in %s: %s", took, short))
	}
}

// configJSON turns --config (a TOML file or inline TOML) into the JSON config the module gets.
func configJSON(arg string) (json.RawMessage, error) {
	if arg == "" {
		return nil, nil
	}
	src := []byte(arg)
	if b, err := os.ReadFile(arg); err == nil {
		src = b
	}
	var m map[string]any
	if err := toml.Unmarshal(src, &m); err != nil {
		return nil, fmt.Errorf("not TOML (a file path or a table such as 'mirror = \"https://m\"'): %w", err)
	}
	return json.Marshal(m)
}

// parseInputs returns the request per capability: --input, else a sample.
func parseInputs(arg string, caps []sdk.Capability) (map[sdk.Capability][]byte, error) {
	out := map[sdk.Capability][]byte{}
	for _, c := range caps {
		out[c] = []byte(sampleInputs[c])
	}
	if arg == "" {
		return out, nil
	}
	src := []byte(arg)
	if b, err := os.ReadFile(arg); err == nil {
		src = b
	}
	if !json.Valid(src) {
		return nil, errors.New("not JSON (a file path or inline JSON)")
	}
	var keyed map[sdk.Capability]json.RawMessage
	if json.Unmarshal(src, &keyed) == nil {
		hit := false
		for _, c := range caps {
			if v, ok := keyed[c]; ok {
				out[c], hit = v, true
			}
		}
		if hit {
			return out, nil
		}
	}
	if len(caps) != 1 {
		return nil, fmt.Errorf("the module declares %d capabilities: key the input by capability, e.g. {\"model_source\": {...}}", len(caps))
	}
	out[caps[0]] = src
	return out, nil
}
