// Package projecttest builds what tests of the project lifecycle install from, offline: the
// git repositories that stand in for ComfyUI and a custom node pack (the one fixture builder
// of the repository; scripts/make-fixtures.sh runs it too), and a python3 that makes venvs
// quickly (python.go).
package projecttest

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Fixtures are the repositories Build made.
type Fixtures struct {
	// ComfyUI is a repository of the fake ComfyUI server (scripts/fake_comfyui), branch
	// master: V1 is its first commit, tagged v0.3.0; the second commit bumps the version to
	// 0.3.1 (tag v0.3.1).
	ComfyUI string
	V1      string
	// Node is a custom node pack (scripts/fake_comfyui/fixtures/custom-node), branch master,
	// with an install.py that writes NodeMarker; NodeCommit is its first commit, tagged
	// v1.0.0, and master has one more.
	Node       string
	NodeCommit string
}

// NodeMarker is the file the custom node's install.py writes next to itself.
const NodeMarker = "installed.marker"

// fakeComfyUIDir is scripts/fake_comfyui of this checkout.
func fakeComfyUIDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "scripts", "fake_comfyui")
}

// gitEnv makes commits independent of the user's git config and of the clock, so the
// fixtures have the same hashes on every machine and every day.
var gitEnv = []string{
	"GIT_AUTHOR_NAME=Fixture Bot", "GIT_AUTHOR_EMAIL=fixtures@comfylauncher.invalid",
	"GIT_COMMITTER_NAME=Fixture Bot", "GIT_COMMITTER_EMAIL=fixtures@comfylauncher.invalid",
	"GIT_AUTHOR_DATE=2025-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2025-01-01T00:00:00Z",
	"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
}

// RunGit runs git in dir and returns its trimmed output.
func RunGit(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %v in %s: %w\n%s", args, dir, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// Git is RunGit failing the test on error.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := RunGit(dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// WriteFiles writes name -> content under dir.
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	if err := writeFiles(dir, files); err != nil {
		t.Fatal(err)
	}
}

func writeFiles(dir string, files map[string]string) error {
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// MakeFixtures builds the repositories under a test temp dir.
func MakeFixtures(t testing.TB) Fixtures {
	t.Helper()
	f, err := Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Build makes the fixture repositories under root (root/ComfyUI, root/custom-node).
func Build(root string) (Fixtures, error) {
	src := fakeComfyUIDir()
	f := Fixtures{ComfyUI: filepath.Join(root, "ComfyUI"), Node: filepath.Join(root, "custom-node")}
	steps := []func() error{
		// ComfyUI: the fake's files without the node fixture and caches, plus the folders a
		// checkout has (ignored by its .gitignore, so added with -f).
		func() error { return copyTree(src, f.ComfyUI, "fixtures") },
		func() error {
			return writeFiles(f.ComfyUI, map[string]string{
				"models/checkpoints/put_files_here": "", "models/loras/put_files_here": "",
				"input/put_files_here": "", "output/put_files_here": "",
			})
		},
		git(f.ComfyUI, "init", "-q", "-b", "master"),
		git(f.ComfyUI, "add", "-A"),
		git(f.ComfyUI, "add", "-f", "models", "input", "output"),
		git(f.ComfyUI, "commit", "-q", "-m", "ComfyUI v0.3.0 (fake)"),
		git(f.ComfyUI, "tag", "v0.3.0"),
		func() error { return bumpVersion(f.ComfyUI) },
		git(f.ComfyUI, "commit", "-q", "-am", "Bump version to 0.3.1"),
		git(f.ComfyUI, "tag", "v0.3.1"),

		func() error { return copyTree(filepath.Join(src, "fixtures", "custom-node"), f.Node, "") },
		git(f.Node, "init", "-q", "-b", "master"),
		git(f.Node, "add", "-A"),
		git(f.Node, "commit", "-q", "-m", "Fake custom node pack"),
		git(f.Node, "tag", "v1.0.0"),
		func() error { return writeFiles(f.Node, map[string]string{"later.py": ""}) },
		git(f.Node, "add", "-A"),
		git(f.Node, "commit", "-q", "-m", "later"),
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return Fixtures{}, fmt.Errorf("build fixtures: %w", err)
		}
	}
	var err error
	if f.V1, err = RunGit(f.ComfyUI, "rev-parse", "v0.3.0"); err != nil {
		return Fixtures{}, err
	}
	if f.NodeCommit, err = RunGit(f.Node, "rev-parse", "v1.0.0"); err != nil {
		return Fixtures{}, err
	}
	return f, nil
}

func git(dir string, args ...string) func() error {
	return func() error { _, err := RunGit(dir, args...); return err }
}

func bumpVersion(dir string) error {
	p := filepath.Join(dir, "comfyui_version.py")
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	s := strings.Replace(string(b), `__version__ = "0.3.0"`, `__version__ = "0.3.1"`, 1)
	if s == string(b) {
		return fmt.Errorf("%s has no version 0.3.0 to bump", p)
	}
	return os.WriteFile(p, []byte(s), 0o644)
}

// copyTree copies the regular files of src to dst, skipping the top-level folder skip, Python
// caches and anything the fake's .gitignore would leave out of a checkout.
func copyTree(src, dst, skip string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if (skip != "" && rel == skip) || d.Name() == "__pycache__" || d.Name() == "venv" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() || strings.HasSuffix(p, ".pyc") || strings.HasSuffix(p, ".log") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}
