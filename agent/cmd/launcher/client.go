package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/config"
)

// Exit codes of the commands that talk to a running agent, for scripts (README: Exit codes).
const (
	exitOK          = 0
	exitFailure     = 1 // the agent answered with an error, or the job it ran failed
	exitUsage       = 2 // bad flags or arguments
	exitUnreachable = 3 // no agent answered at --agent
	exitAuth        = 4 // the token is missing or wrong (401/403)
	exitNotFound    = 5 // no such project or operation (404)
	exitConflict    = 6 // the action does not fit the current state (409)
)

// codedError carries the exit status a command ends with.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// ExitCode implements exitCoder.
func (e *codedError) ExitCode() int { return e.code }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code, err}
}

// usageErr is a usage mistake: exit status 2.
func usageErr(format string, args ...any) error {
	return withCode(exitUsage, fmt.Errorf(format, args...))
}

// ExitCode maps the agent's answer to an exit status.
func (e *apiError) ExitCode() int {
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return exitAuth
	case http.StatusNotFound:
		return exitNotFound
	case http.StatusConflict:
		return exitConflict
	default:
		return exitFailure
	}
}

// agentFlags returns a flag set named cmd with the common --agent, --token and --config flags
// and the client they configure. The token is --token, else $LAUNCHER_TOKEN, else the token
// file of the agent's config (server.token, server.token_file or <data_dir>/api-token).
func agentFlags(cmd, usage string, stdout io.Writer) (*flag.FlagSet, *agentClient) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stdout)
	c := &agentClient{http: &http.Client{Timeout: 10 * time.Minute}}
	def := os.Getenv("LAUNCHER_AGENT")
	if def == "" {
		def = "http://127.0.0.1:4000"
	}
	fs.StringVar(&c.base, "agent", def, "agent URL (default $LAUNCHER_AGENT)")
	// No default shown: --help must not print the token of $LAUNCHER_TOKEN.
	fs.StringVar(&c.token, "token", "", "API token (default $LAUNCHER_TOKEN, else the agent's token file)")
	fs.StringVar(&c.configPath, "config", "", "the agent's launcher.toml, to find its token file (default ./launcher.toml or $LAUNCHER_CONFIG)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs, c
}

// resolveToken fills in the token on first use when --token was not given.
func (c *agentClient) resolveToken() {
	if c.token != "" || c.tokenRead {
		return
	}
	c.tokenRead = true
	if c.token = os.Getenv("LAUNCHER_TOKEN"); c.token == "" {
		c.token = tokenFromAgentConfig(c.configPath)
	}
}

// tokenFromAgentConfig reads the token an agent on this machine uses; "" when none is found.
func tokenFromAgentConfig(path string) string {
	cfg, err := config.Read(path)
	if err != nil {
		return ""
	}
	if cfg.Server.Token != "" {
		return cfg.Server.Token
	}
	file := cfg.Server.TokenFile
	if file == "" {
		file = filepath.Join(cfg.Paths.DataDir, "api-token")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// unreachableError says no agent answered.
type unreachableError struct {
	base string
	err  error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("cannot reach the agent at %s: %v (is 'launcher serve' running? pass --agent URL)", e.base, e.err)
}
func (e *unreachableError) Unwrap() error { return e.err }

// ExitCode implements exitCoder.
func (e *unreachableError) ExitCode() int { return exitUnreachable }

// isTerminal reports whether w is a character device (a terminal), where progress is drawn
// as a bar redrawn in place; elsewhere (files, pipes, CI logs) it is printed as plain lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// wantOneArg checks that exactly one positional argument was given; otherwise it prints the
// usage to stderr and returns a usage error with the formatted message.
func wantOneArg(fs *flag.FlagSet, stderr io.Writer, format string, args ...any) error {
	if fs.NArg() == 1 {
		return nil
	}
	fs.SetOutput(stderr)
	fs.Usage()
	return usageErr(format, args...)
}
