// Package plugintest builds plugin binaries from this repository for tests and benchmarks,
// with the real toolchain (go build), once per test binary.
package plugintest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/comfylauncher/launcher/agent/internal/extension/wasmtest"
)

// Build compiles each main package (import path relative to the repository, e.g.
// "plugins/registry-source") into dir/<last element>, in one go build, and returns the paths
// by last element.
func Build(dir string, pkgs ...string) (map[string]string, error) {
	root, err := wasmtest.RepoRoot()
	if err != nil {
		return nil, err
	}
	args := []string{"build", "-trimpath", "-o", dir + string(os.PathSeparator)}
	out := map[string]string{}
	for _, pkg := range pkgs {
		args = append(args, "./"+pkg)
		out[filepath.Base(pkg)] = filepath.Join(dir, filepath.Base(pkg))
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %v: %v\n%s", pkgs, err, b)
	}
	return out, nil
}
