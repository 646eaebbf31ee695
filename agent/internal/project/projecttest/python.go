package projecttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/config/configtest"
)

// shared is what Python builds once per test binary; Main removes it.
var shared struct {
	once   sync.Once
	dir    string
	python string
	err    error
}

// Python returns a python3 for project tests that makes venvs in a fraction of a second.
// It is the real python3 for everything (pip, install.py, the fake ComfyUI) except
// "-m venv DIR", which hard-links a copy of a venv that a real "python3 -m venv" built once per
// test binary: creating a venv with pip costs 5-10 s on a loaded machine, most of a project
// install. Keep at least one test per package on plain "python3" so the real venv path
// stays proven. Call Main from the package's TestMain so the template is removed.
func Python(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() { shared.python, shared.err = buildPython() })
	if shared.err != nil {
		t.Fatalf("build the test python: %v", shared.err)
	}
	return shared.python
}

func buildPython() (string, error) {
	real, err := exec.LookPath("python3")
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "projecttest-python-")
	if err != nil {
		return "", err
	}
	shared.dir = dir
	template := filepath.Join(dir, "venv")
	if out, err := exec.Command(real, "-m", "venv", template).CombinedOutput(); err != nil {
		return "", fmt.Errorf("python3 -m venv: %v\n%s", err, out)
	}
	// cp -al links the files (the venv's pip is never modified in place: pip and Python write
	// new files); -a is the fallback where links cannot cross file systems.
	script := fmt.Sprintf(`#!/bin/sh
if [ "$#" -eq 3 ] && [ "$1" = -m ] && [ "$2" = venv ]; then
	rm -rf "$3" && { cp -al %[1]q "$3" 2>/dev/null || cp -a %[1]q "$3"; }
	exit
fi
exec %[2]q "$@"
`, template, real)
	python := filepath.Join(dir, "python3")
	if err := os.WriteFile(python, []byte(script), 0o755); err != nil {
		return "", err
	}
	return python, nil
}

// Main runs the package's tests behind configtest's tripwire (no internet in tests) and removes
// what Python built; use it as func TestMain(m *testing.M) { projecttest.Main(m) }.
func Main(m *testing.M) {
	code := configtest.Run(m)
	Cleanup()
	os.Exit(code)
}

// Cleanup removes what Python built, for a TestMain that does more than Main.
func Cleanup() {
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
}
