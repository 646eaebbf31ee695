// Package config is the launcher.toml schema: defaults that work with no file at all, strict
// decoding (an unknown key or a wrong type names the key and its line) and validation whose
// messages say how to fix the problem.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	toml "github.com/pelletier/go-toml/v2"
)

// EnvConfig names the environment variable that points at the config file.
const EnvConfig = "LAUNCHER_CONFIG"

// Config is the whole launcher.toml.
type Config struct {
	Server    ServerConfig    `toml:"server"`
	Paths     PathsConfig     `toml:"paths"`
	Ports     PortsConfig     `toml:"ports"`
	ComfyUI   ComfyUIConfig   `toml:"comfyui"`
	GPU       GPUConfig       `toml:"gpu"`
	Downloads DownloadsConfig `toml:"downloads"`
	Sources   SourcesConfig   `toml:"sources"`
	Recovery  RecoveryConfig  `toml:"recovery"`
	Manager   ManagerConfig   `toml:"manager"`
	Events    EventsConfig    `toml:"events"`
	Workflow  WorkflowConfig  `toml:"workflow"`
	Log       LogConfig       `toml:"log"`
	Projects  []ProjectConfig `toml:"projects"`
	// Extensions are the [[extensions]] entries (WASM modules, go-plugin plugins).
	Extensions []ExtensionConfig `toml:"extensions"`

	// File is the path the config was read from, empty for embedded defaults.
	File string `toml:"-"`
}

// ServerConfig is the [server] section.
type ServerConfig struct {
	Listen      string   `toml:"listen"`
	Token       string   `toml:"token"`
	TokenFile   string   `toml:"token_file"`
	CORSOrigins []string `toml:"cors_origins"`
	// AllowedHosts are host names (no port) the agent answers to besides loopback ones while
	// it runs without a token; "*" allows any. Other Host headers get 403 (DNS rebinding).
	AllowedHosts []string `toml:"allowed_hosts"`
	// MaxBodyBytes caps request bodies; larger ones get 413.
	MaxBodyBytes int64 `toml:"max_body_bytes"`
	// Debug adds tracebacks to error responses.
	Debug bool `toml:"debug"`
	// LogLevel is debug, info, warn or error.
	LogLevel        string   `toml:"log_level"`
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// UIDir, when set, is a static web UI build served at / instead of the embedded dashboard.
	UIDir string `toml:"ui_dir"`
}

// PathsConfig is the [paths] section.
type PathsConfig struct {
	DataDir   string `toml:"data_dir"`
	ModelsDir string `toml:"models_dir"`
}

// PortsConfig is the [ports] section: the range project ports are leased from.
type PortsConfig struct {
	Min int `toml:"min"`
	Max int `toml:"max"`
}

// ComfyUIConfig is the [comfyui] section: how projects get and run ComfyUI.
type ComfyUIConfig struct {
	Repo         string   `toml:"repo"`
	Ref          string   `toml:"ref"`
	Python       string   `toml:"python"`
	PipArgs      []string `toml:"pip_args"`
	LaunchArgs   []string `toml:"launch_args"`
	ReadyTimeout Duration `toml:"ready_timeout"`
	StopGrace    Duration `toml:"stop_grace"`
}

// ManagerConfig is the [manager] section: where ComfyUI-Manager's data files come from.
type ManagerConfig struct {
	ExtensionNodeMapURL string   `toml:"extension_node_map_url"`
	GithubStatsURL      string   `toml:"github_stats_url"`
	ModelListURL        string   `toml:"model_list_url"`
	CustomNodeListURL   string   `toml:"custom_node_list_url"`
	MaxAge              Duration `toml:"max_age"`
	// SeedDir, when set, fills an empty cache from local copies of the files (offline nodes).
	SeedDir string `toml:"seed_dir"`
	// ImportRoot is the only folder POST /api/manager-data/import reads directories from (a
	// request's path never leaves it); default <data_dir>/manager-import. The CLI's own
	// `launcher manager-data import DIR` reads any directory of the operator's.
	ImportRoot string `toml:"import_root"`
}

// WorkflowConfig is the [workflow] section: limits on workflows the agent parses, so a
// hostile body cannot exhaust memory or the stack.
type WorkflowConfig struct {
	MaxBytes int `toml:"max_bytes"`
	MaxNodes int `toml:"max_nodes"`
	MaxDepth int `toml:"max_depth"`
	// Parsers is the order of the workflow parser chain (extension ids; built-ins by name);
	// empty means extensions first, then the built-ins.
	Parsers []string `toml:"parsers"`
}

// KnownParsers are the built-in workflow parsers, in their built-in order.
var KnownParsers = []string{"loaders", "metadata", "embeddings", "urls", "fallback"}

// Duration is a time.Duration written as "30s", "5m" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use a number with a unit, e.g. \"30s\", \"5m\")", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration in Go syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Default returns the configuration used when no file exists.
func Default() *Config {
	c := &Config{
		Server: ServerConfig{
			Listen:          "127.0.0.1:4000",
			MaxBodyBytes:    16 << 20,
			LogLevel:        "info",
			ShutdownTimeout: Duration{15 * time.Second},
		},
		Paths: PathsConfig{DataDir: "./data"},
		Ports: PortsConfig{Min: 4001, Max: 4100},
		ComfyUI: ComfyUIConfig{
			Repo:         "https://github.com/comfyanonymous/ComfyUI",
			Ref:          "master",
			Python:       "python3",
			ReadyTimeout: Duration{120 * time.Second},
			StopGrace:    Duration{10 * time.Second},
		},
		Workflow: WorkflowConfig{MaxBytes: 32 << 20, MaxNodes: 50000, MaxDepth: 128},
		Manager: ManagerConfig{
			ExtensionNodeMapURL: "https://raw.githubusercontent.com/Comfy-Org/ComfyUI-Manager/main/extension-node-map.json",
			GithubStatsURL:      "https://raw.githubusercontent.com/Comfy-Org/ComfyUI-Manager/main/github-stats.json",
			ModelListURL:        "https://raw.githubusercontent.com/Comfy-Org/ComfyUI-Manager/main/model-list.json",
			CustomNodeListURL:   "https://raw.githubusercontent.com/Comfy-Org/ComfyUI-Manager/main/custom-node-list.json",
			MaxAge:              Duration{24 * time.Hour},
		},
	}
	c.Events.setDefaults()
	c.GPU.setDefaults()
	c.Downloads.setDefaults()
	c.Sources.setDefaults()
	c.Recovery.setDefaults()
	c.Log.setDefaults()
	return c
}

// Load reads path (or, when path is empty, $LAUNCHER_CONFIG, then ./launcher.toml if it exists)
// over the defaults and validates the result.
func Load(path string) (*Config, error) {
	c, err := Read(path)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		if c.File != "" {
			return nil, fmt.Errorf("%s: %w", c.File, err)
		}
		return nil, err
	}
	return c, nil
}

// Decode strictly decodes TOML data over c: unknown keys and wrong types are errors naming the
// key, its line, what the key takes and how to write it.
func Decode(data []byte, c *Config) error {
	if errs := checkTypes(data); len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(c)
	if err == nil {
		return nil
	}
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var msgs []string
		for _, e := range strict.Errors {
			row, _ := e.Position()
			msgs = append(msgs, fmt.Sprintf("line %d: unknown key %q (check the spelling; launcher.toml in the repository documents every key)", row, strings.Join(e.Key(), ".")))
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if key := strings.Join(de.Key(), "."); key != "" {
			return fmt.Errorf("line %d: %s: %s (launcher.toml in the repository documents every key)", row, key, msg)
		}
		return fmt.Errorf("line %d: %s (fix the TOML syntax on that line)", row, msg)
	}
	return fmt.Errorf("decode: %w", err)
}

// resolve fills derived defaults (paths under data_dir) and makes paths absolute so the
// agent does not depend on its working directory after start.
func (c *Config) resolve() {
	c.Downloads.resolve()
	if c.Paths.DataDir == "" {
		c.Paths.DataDir = "./data"
	}
	if c.Paths.ModelsDir == "" {
		c.Paths.ModelsDir = filepath.Join(c.Paths.DataDir, "models")
	}
	c.Paths.DataDir = absPath(c.Paths.DataDir)
	c.Paths.ModelsDir = absPath(c.Paths.ModelsDir)
	if c.Manager.ImportRoot == "" {
		c.Manager.ImportRoot = filepath.Join(c.Paths.DataDir, "manager-import")
	}
	c.Manager.ImportRoot = absPath(c.Manager.ImportRoot)
	if c.Server.TokenFile != "" {
		c.Server.TokenFile = absPath(c.Server.TokenFile)
	}
	for i := range c.Extensions {
		if c.Extensions[i].Path != "" {
			c.Extensions[i].Path = absPath(c.Extensions[i].Path)
		}
	}
	if c.Server.UIDir != "" {
		c.Server.UIDir = absPath(c.Server.UIDir)
	}
}

func absPath(p string) string {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[2:])
		}
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// Validate checks the configuration and returns every problem with how to fix it.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	host, port, err := net.SplitHostPort(c.Server.Listen)
	if err != nil {
		add("server.listen %q is not host:port (e.g. \"127.0.0.1:4000\")", c.Server.Listen)
	} else if _, err := net.LookupPort("tcp", port); err != nil {
		add("server.listen %q has an invalid port", c.Server.Listen)
	} else if !IsLoopbackHost(host) && c.Server.Token != "" && len(c.Server.Token) < 16 {
		add("server.token is shorter than 16 characters, too weak for the non-loopback address %q: use server.token_file and let the agent generate one", c.Server.Listen)
	}
	if c.Server.Token != "" && c.Server.TokenFile != "" {
		add("server.token and server.token_file are both set: keep one (token_file keeps the secret out of the config)")
	}
	if c.Server.MaxBodyBytes < 1024 {
		add("server.max_body_bytes = %d is too small: use at least 1024", c.Server.MaxBodyBytes)
	}
	switch c.Server.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("server.log_level %q is not one of debug, info, warn, error", c.Server.LogLevel)
	}
	for _, o := range c.Server.CORSOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			add("server.cors_origins entry %q must be \"*\" or start with http:// or https://", o)
		}
	}
	for _, h := range c.Server.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/:@ ") && net.ParseIP(h) == nil {
			add("server.allowed_hosts entry %q must be a host name or address without scheme or port, e.g. \"launcher.lan\"", h)
		}
	}
	if c.Ports.Min < 1024 || c.Ports.Max > 65535 {
		add("ports.min..ports.max = %d..%d must lie within 1024..65535", c.Ports.Min, c.Ports.Max)
	}
	if c.Ports.Min > c.Ports.Max {
		add("ports.min (%d) is greater than ports.max (%d): swap them", c.Ports.Min, c.Ports.Max)
	}
	if c.Workflow.MaxBytes < 1024 || c.Workflow.MaxNodes < 1 || c.Workflow.MaxDepth < 8 {
		add("workflow limits too small: max_bytes >= 1024, max_nodes >= 1, max_depth >= 8")
	}
	if c.ComfyUI.Repo == "" {
		add("comfyui.repo is empty: set it to a git URL or a local repository path")
	}
	if c.ComfyUI.Python == "" {
		add("comfyui.python is empty: set it to a Python 3 interpreter, e.g. \"python3\"")
	}
	if c.ComfyUI.ReadyTimeout.Duration <= 0 {
		add("comfyui.ready_timeout must be positive, e.g. \"120s\"")
	}
	for _, dir := range []struct{ key, path string }{{"paths.data_dir", c.Paths.DataDir}, {"paths.models_dir", c.Paths.ModelsDir}} {
		if err := checkWritableDir(dir.path); err != nil {
			add("%s %q is not writable: %v (create it or point %s at a writable directory)", dir.key, dir.path, err, dir.key)
		}
	}
	errs = append(errs, c.Events.validate()...)
	errs = append(errs, c.GPU.validate()...)
	errs = append(errs, c.Downloads.validate()...)
	errs = append(errs, c.Sources.validate()...)
	errs = append(errs, c.Recovery.validate()...)
	errs = append(errs, c.Log.validate()...)
	errs = append(errs, validateProjects(c.Projects, c.Ports)...)
	errs = append(errs, validateExtensions(c.Extensions)...)
	errs = append(errs, validateOrder("workflow.parsers", c.Workflow.Parsers, KnownParsers)...)
	errs = append(errs, validateOrder("recovery.strategies", c.Recovery.Strategies, KnownStrategies)...)
	return errors.Join(errs...)
}

// IsLoopbackHost reports whether host (from host:port) only accepts local connections.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkWritableDir creates dir if needed and proves it is writable with a probe file.
func checkWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".write-probe-*")
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
