package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestTransportFromFileType: an [[extensions]] file is WASM when it starts with the
// WebAssembly magic or is named *.wasm, and a plugin otherwise; a configured transport always
// wins.
func TestTransportFromFileType(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		e    ExtensionConfig
		want string
	}{
		{ExtensionConfig{Name: "a", Path: write("module.bin", "\x00asm\x01\x00\x00\x00")}, "wasm"},
		{ExtensionConfig{Name: "b", Path: write("broken.wasm", "hello")}, "wasm"},
		{ExtensionConfig{Name: "c", Path: write("registry-source", "\x7fELF\x02\x01\x01")}, "plugin"},
		{ExtensionConfig{Name: "d", Path: filepath.Join(dir, "not-yet.wasm")}, "wasm"},
		{ExtensionConfig{Name: "e", Path: filepath.Join(dir, "not-yet")}, "plugin"},
		{ExtensionConfig{Name: "f", Path: write("forced", "\x00asm"), Transport: "plugin"}, "plugin"},
	}
	for _, c := range cases {
		if got := c.e.TransportName(); got != c.want {
			t.Errorf("%s: transport %q, want %q", filepath.Base(c.e.Path), got, c.want)
		}
		if id := c.e.ID(); id != c.want+"."+c.e.Name {
			t.Errorf("%s: id %q", c.e.Name, id)
		}
	}
}
