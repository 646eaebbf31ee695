// Package wasmtest builds WASM extensions from this repository for tests and benchmarks, with
// the real toolchain (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared), once per test
// binary.
package wasmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/config/configtest"
)

// Module is the import path of this repository.
const Module = "github.com/comfylauncher/launcher"

// All are the shipped extensions (wasm/) and the hostile and broken test guests, by package.
var All = []string{
	"wasm/mirror/module", "wasm/housenodes/module", "wasm/classify/module",
	"agent/internal/extension/wasmhost/testdata/hostile",
	"agent/internal/extension/wasmhost/testdata/badabi",
	"agent/internal/extension/wasmhost/testdata/noexport",
}

// Build compiles each package (path relative to the repository, e.g. "wasm/mirror/module")
// into dir/<name>.wasm, in parallel, and returns the paths by name: the last path element, or
// the one before a final "module".
func Build(dir string, pkgs ...string) (map[string]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(pkgs))
	sem := make(chan struct{}, max(1, runtime.NumCPU()))
	for i, pkg := range pkgs {
		name := filepath.Base(pkg)
		if name == "module" {
			name = filepath.Base(filepath.Dir(pkg))
		}
		dst := filepath.Join(dir, name+".wasm")
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", dst, "./"+pkg)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("build %s: %v\n%s", pkg, err, b)
				return
			}
			mu.Lock()
			out[name] = dst
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RepoRoot is the directory holding go.mod.
func RepoRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the module")
	}
	return filepath.Dir(mod), nil
}

// Main is a TestMain body: it builds All into a temporary directory, calls setup with the
// directory and the module paths, runs the tests and removes the directory.
func Main(m *testing.M, setup func(dir string, modules map[string]string)) {
	dir, err := os.MkdirTemp("", "wasmtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mods, err := Build(dir, All...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	setup(dir, mods)
	code := configtest.Run(m) // after the build, which may use the Go module proxy

	os.RemoveAll(dir)
	os.Exit(code)
}
