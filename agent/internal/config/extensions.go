package config

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// ExtensionConfig is one [[extensions]] entry: a WASM module or a go-plugin plugin the agent
// loads at start. Its registry id is "<transport>.<name>" (e.g. "wasm.mirror"), the id that
// [workflow] parsers, [sources] order and [recovery] strategies name.
type ExtensionConfig struct {
	Name string `toml:"name"`
	Path string `toml:"path"`
	// SHA256 of the file, hex. Required: the file is hashed and compared before anything in it
	// is compiled or run; an extension without it is not loaded.
	SHA256 string `toml:"sha256"`
	// Transport is "wasm" or "plugin"; empty means wasm for a *.wasm file, plugin otherwise.
	Transport string `toml:"transport"`
	// Enabled defaults to true; false lists the extension as disabled and runs nothing.
	Enabled *bool `toml:"enabled"`
	// Config is handed to the extension when it starts (the extension decodes it strictly).
	Config map[string]any  `toml:"config"`
	Limits ExtensionLimits `toml:"limits"`
}

// ExtensionLimits are [[extensions]].limits; zero means the transport's default (WASM: 64 MiB
// memory, 2 s per call, 4 MiB output).
type ExtensionLimits struct {
	MemoryMB       int      `toml:"memory_mb"`
	Timeout        Duration `toml:"timeout"`
	MaxOutputBytes int      `toml:"max_output_bytes"`
}

// IsEnabled reports whether the extension should be loaded.
func (e ExtensionConfig) IsEnabled() bool { return e.Enabled == nil || *e.Enabled }

// TransportName is the transport in force ("wasm" or "plugin"): the configured one, else
// wasm for a file that starts with the WebAssembly magic or is named *.wasm (a broken module
// is then reported as not WebAssembly, the clearest message), and plugin for anything else
// (an executable).
func (e ExtensionConfig) TransportName() string {
	if e.Transport != "" {
		return e.Transport
	}
	if strings.EqualFold(filepath.Ext(e.Path), ".wasm") || hasWASMMagic(e.Path) {
		return "wasm"
	}
	return "plugin"
}

// hasWASMMagic reports whether path can be read and starts with "\x00asm".
func hasWASMMagic(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	return bytes.Equal(head[:n], []byte("\x00asm"))
}

// ID is the extension's registry id.
func (e ExtensionConfig) ID() string { return e.TransportName() + "." + e.Name }

var extensionName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func validateExtensions(exts []ExtensionConfig) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	seen := map[string]bool{}
	for i, e := range exts {
		key := fmt.Sprintf("extensions[%d]", i)
		if !extensionName.MatchString(e.Name) {
			add("%s.name %q must be lowercase letters, digits, \"-\" or \"_\" (at most 63), e.g. \"mirror\"", key, e.Name)
		} else if seen[e.Name] {
			add("%s.name %q is used twice: give each extension its own name", key, e.Name)
		}
		seen[e.Name] = true
		if e.Path == "" {
			add("%s (%s).path is empty: set it to the .wasm module or plugin binary", key, e.Name)
		}
		if e.SHA256 != "" {
			if b, err := hex.DecodeString(e.SHA256); err != nil || len(b) != 32 {
				add("%s (%s).sha256 %q is not 64 hex digits: use the output of `sha256sum %s`", key, e.Name, e.SHA256, e.Path)
			}
		}
		switch e.Transport {
		case "", "wasm", "plugin":
		default:
			add("%s (%s).transport %q is not \"wasm\" or \"plugin\"", key, e.Name, e.Transport)
		}
		if e.Limits.MemoryMB < 0 || e.Limits.MemoryMB > 4096 {
			add("%s (%s).limits.memory_mb = %d must be between 1 and 4096 (or 0 for the default 64)", key, e.Name, e.Limits.MemoryMB)
		}
		if e.Limits.Timeout.Duration < 0 {
			add("%s (%s).limits.timeout must be positive, e.g. \"2s\"", key, e.Name)
		}
		if e.Limits.MaxOutputBytes < 0 {
			add("%s (%s).limits.max_output_bytes must be positive", key, e.Name)
		}
	}
	return errs
}

// validOrderID reports whether id may appear in an order list: a built-in in builtins (with or
// without "builtin."), or a wasm./plugin. id.
func validOrderID(id string, builtins []string) bool {
	for _, p := range []string{"wasm.", "plugin."} {
		if name, ok := strings.CutPrefix(id, p); ok {
			return extensionName.MatchString(name)
		}
	}
	id = strings.TrimPrefix(id, "builtin.")
	for _, b := range builtins {
		if b == id {
			return true
		}
	}
	return false
}

func validateOrder(key string, ids, builtins []string) []error {
	var errs []error
	for _, id := range ids {
		if !validOrderID(id, builtins) {
			errs = append(errs, fmt.Errorf("%s entry %q is not a built-in (%s) nor an extension id like \"wasm.<name>\" or \"plugin.<name>\"",
				key, id, strings.Join(builtins, ", ")))
		}
	}
	return errs
}
