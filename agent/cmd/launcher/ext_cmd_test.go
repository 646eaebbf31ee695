package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/agent/internal/extension/extensionhttp"
	"github.com/comfylauncher/launcher/agent/internal/extension/wasmtest"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// extModules builds the shipped modules once, only when an ext test runs.
// Their compiled code is cached in one directory for every run (the cache is not under test
// here), so each module compiles once.
var (
	extDir     string
	extModules = sync.OnceValues(func() (map[string]string, error) {
		dir, err := os.MkdirTemp("", "ext-cmd-")
		if err != nil {
			return nil, err
		}
		extDir = dir
		return wasmtest.Build(dir, "wasm/classify/module", "wasm/mirror/module")
	})
)

func extTestRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(extDir, "cache"))
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"ext", "test"}, args...), &out, &errb)
	return out.String() + errb.String(), err
}

func TestExtTest(t *testing.T) {
	mods, err := extModules()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(extDir) })
	plugins := testPlugins(t)
	notWasm := filepath.Join(t.TempDir(), "x.wasm")
	os.WriteFile(notWasm, []byte("hello"), 0o644)
	cases := []struct {
		name string
		args []string
		ok   bool
		want []string
	}{
		{"passes with the sample input", []string{mods["classify"]}, true,
			[]string{"ok    load", "classify 1.0.0", "recovery_strategy", `"class":"not_found"`, "all checks passed"}},
		{"custom input", []string{mods["classify"], "--input", `{"class":"unknown","message":"Could not resolve host: x"}`}, true,
			[]string{`"class":"network"`}},
		{"config is required", []string{mods["mirror"]}, false,
			[]string{"FAIL  load", "config.mirror must be", "fix: fix the config table"}},
		{"config given inline, input by capability", []string{mods["mirror"], "--config", `mirror = "https://m.example"`, "--input", `{"model_source":{"reference":"civitai:7"}}`}, true,
			[]string{"1 candidates", "https://m.example/civitai/7"}},
		{"unknown config key", []string{mods["mirror"], "--config", `mirror = "https://m.example"` + "\nmirorr = 1"}, false,
			[]string{"unknown field"}},
		{"not wasm", []string{notWasm}, false, []string{"is not a WebAssembly module", "fix: build the module with"}},
		{"a plugin passes", []string{plugins["testplugin"]}, true,
			[]string{"ok    load", "handshake and protocol v1 ok", "testplugin 0.1.0", "workflow_parser", "model_source", "1 candidates", "recovery_strategy", "all checks passed"}},
		{"a plugin of another application", []string{plugins["wrongcookie"]}, false,
			[]string{"FAIL  load", "magic cookie", "fix: build the plugin with"}},
		{"a plugin's config is decoded strictly", []string{plugins["testplugin"], "--config", "typo = 1"}, false,
			[]string{"FAIL  load", `unknown field "typo"`, "fix: fix the config table"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := extTestRun(t, c.args...)
			if (err == nil) != c.ok {
				t.Fatalf("err = %v\n%s", err, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if !strings.Contains(out, "sha256 ") {
				t.Errorf("the report must print the sha256 to configure:\n%s", out)
			}
		})
	}
	if _, err := extTestRun(t); err == nil || !strings.Contains(err.Error(), "FILE is required") {
		t.Errorf("no file: %v", err)
	}
}

func TestExtLs(t *testing.T) {
	reg := extension.New(extension.Options{})
	info := extension.Info{ID: "builtin.policy", Version: "1", Transport: extension.TransportBuiltin, Capabilities: []sdk.Capability{sdk.CapRecoveryStrategy}}
	if _, err := reg.Register(context.Background(), info, struct{}{}); err != nil {
		t.Fatal(err)
	}
	reg.AddDisabled(extension.Info{ID: "wasm.off", Transport: extension.TransportWASM})
	rt := httprouter.New()
	extensionhttp.Routes(rt, reg)
	srv := httptest.NewServer(rt)
	defer srv.Close()
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"ext", "ls", "--agent", srv.URL}, &out, &errb); err != nil {
		t.Fatalf("%v %s", err, errb.String())
	}
	for _, w := range []string{"ID", "builtin.policy", "loaded", "recovery_strategy", "wasm.off", "disabled", "recovery_strategy order: builtin.policy"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("ext ls output lacks %q:\n%s", w, out.String())
		}
	}
	if err := run(context.Background(), []string{"ext", "ls", "--agent", "http://127.0.0.1:1"}, &out, &errb); err == nil || !strings.Contains(err.Error(), "cannot reach the agent") {
		t.Errorf("unreachable agent: %v", err)
	}
}
