package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExtensionsConfig(t *testing.T) {
	const sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	good := `
[sources]
order = ["wasm.mirror", "huggingface", "builtin.direct"]
[workflow]
parsers = ["wasm.house", "loaders", "fallback"]
[recovery]
strategies = ["plugin.reg", "policy"]
[[extensions]]
name = "mirror"
path = "ext/mirror.wasm"
sha256 = "` + sha + `"
config = { mirror = "https://m", nested = { a = 1 } }
limits = { memory_mb = 32, timeout = "500ms", max_output_bytes = 1024 }
[[extensions]]
name = "reg"
path = "plugins/reg"
enabled = false
`
	c := Default()
	if err := Decode([]byte(good), c); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c.Paths.DataDir, c.Paths.ModelsDir = dir, filepath.Join(dir, "m")
	c.resolve()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	e := c.Extensions[0]
	if e.ID() != "wasm.mirror" || !e.IsEnabled() || e.Limits.Timeout.Duration != 500*time.Millisecond || !filepath.IsAbs(e.Path) || e.Config["mirror"] != "https://m" {
		t.Errorf("extension = %+v", e)
	}
	if r := c.Extensions[1]; r.ID() != "plugin.reg" || r.IsEnabled() {
		t.Errorf("plugin = %+v id %s", r, r.ID())
	}

	bad := []struct{ name, toml, want string }{
		{"unknown key", "[[extensions]]\nname = \"a\"\npath = \"a.wasm\"\nsha = \"x\"\n", `unknown key "extensions.sha"`},
		{"unknown limit", "[[extensions]]\nname = \"a\"\npath = \"a.wasm\"\nlimits = { memory = 1 }\n", `memory" (check the spelling`},
		{"bad name", "[[extensions]]\nname = \"A B\"\npath = \"a.wasm\"\n", "extensions[0].name"},
		{"duplicate", "[[extensions]]\nname = \"a\"\npath = \"a.wasm\"\n[[extensions]]\nname = \"a\"\npath = \"b.wasm\"\n", "used twice"},
		{"no path", "[[extensions]]\nname = \"a\"\n", ".path is empty"},
		{"bad sha", "[[extensions]]\nname = \"a\"\npath = \"a.wasm\"\nsha256 = \"abc\"\n", "not 64 hex digits"},
		{"bad transport", "[[extensions]]\nname = \"a\"\npath = \"a.wasm\"\ntransport = \"lua\"\n", "transport"},
		{"memory", "[[extensions]]\nname = \"a\"\npath = \"a.wasm\"\nlimits = { memory_mb = 99999 }\n", "memory_mb"},
		{"source order", "[sources]\norder = [\"gdrive\"]\n", `sources.order entry "gdrive"`},
		{"parser order", "[workflow]\nparsers = [\"wasm.\"]\n", "workflow.parsers"},
		{"strategy order", "[recovery]\nstrategies = [\"default\"]\n", `recovery.strategies entry "default"`},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			c := Default()
			err := Decode([]byte(b.toml), c)
			if err == nil {
				dir := t.TempDir()
				c.Paths.DataDir, c.Paths.ModelsDir = dir, filepath.Join(dir, "m")
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), b.want) {
				t.Errorf("err = %v, want %q", err, b.want)
			}
		})
	}
}
