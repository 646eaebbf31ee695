// Package projecttest builds the local git repositories that stand in for ComfyUI and a
// custom node in tests of the project lifecycle, so installs run offline with real git.
package projecttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Fixtures are the repositories MakeFixtures built.
type Fixtures struct {
	// ComfyUI is a repository with main.py and an empty requirements.txt (pip install -r
	// works offline); V1 is its first commit, tagged v0.3.0, and master has one more.
	ComfyUI string
	V1      string
	// Node is a custom node repository with requirements.txt and an install.py that writes
	// installed.marker; NodeCommit is its first commit, and main has one more.
	Node       string
	NodeCommit string
}

// Git runs git in dir and returns its trimmed output, failing the test on error.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// WriteFiles writes name -> content under dir.
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// MakeFixtures builds the repositories under a test temp dir. mainPy, when not empty,
// replaces ComfyUI's main.py (e2e tests put the fake ComfyUI server there).
func MakeFixtures(t testing.TB, mainPy string) Fixtures {
	t.Helper()
	if mainPy == "" {
		mainPy = "print('fake comfyui')\n"
	}
	root := t.TempDir()
	var f Fixtures
	f.ComfyUI = filepath.Join(root, "ComfyUI")
	os.MkdirAll(f.ComfyUI, 0o755)
	Git(t, f.ComfyUI, "init", "-q", "-b", "master")
	WriteFiles(t, f.ComfyUI, map[string]string{"requirements.txt": "", "main.py": mainPy, "custom_nodes/.keep": ""})
	Git(t, f.ComfyUI, "add", "-A")
	Git(t, f.ComfyUI, "commit", "-q", "-m", "v0.3.0")
	Git(t, f.ComfyUI, "tag", "v0.3.0")
	f.V1 = Git(t, f.ComfyUI, "rev-parse", "HEAD")
	WriteFiles(t, f.ComfyUI, map[string]string{"README.md": "second\n"})
	Git(t, f.ComfyUI, "add", "-A")
	Git(t, f.ComfyUI, "commit", "-q", "-m", "second")

	f.Node = filepath.Join(root, "custom-node")
	os.MkdirAll(f.Node, 0o755)
	Git(t, f.Node, "init", "-q", "-b", "main")
	WriteFiles(t, f.Node, map[string]string{
		"__init__.py":      "NODE_CLASS_MAPPINGS = {}\n",
		"requirements.txt": "",
		"install.py":       "open('installed.marker', 'w').write('ok')\n",
	})
	Git(t, f.Node, "add", "-A")
	Git(t, f.Node, "commit", "-q", "-m", "node")
	f.NodeCommit = Git(t, f.Node, "rev-parse", "HEAD")
	WriteFiles(t, f.Node, map[string]string{"later.py": ""})
	Git(t, f.Node, "add", "-A")
	Git(t, f.Node, "commit", "-q", "-m", "later")
	return f
}
