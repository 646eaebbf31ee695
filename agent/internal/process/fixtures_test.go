package process

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
)

// TestFixturesRunUnderSupervisor builds the git fixtures (projecttest, as the install tests do), clones
// ComfyUI at its first tag plus the custom node pack, and runs the clone: what the install
// pipeline does, minus the venv.
func TestFixturesRunUnderSupervisor(t *testing.T) {
	t.Parallel()
	fakeDir(t) // skips without python3
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not found")
	}
	fx := projecttest.MakeFixtures(t)
	dest := t.TempDir()
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	co := filepath.Join(dest, "ComfyUI")
	run("git", "clone", "-q", "--branch", "v0.3.0", fx.ComfyUI, co)
	run("git", "clone", "-q", fx.Node, filepath.Join(co, "custom_nodes", "custom-node"))

	s, _ := newTestSupervisor(t, &recorder{}, testOptions())
	spec := testSpec(t, "fixture", nil)
	spec.Dir = co
	if _, err := s.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	stats := systemStats(t, spec.Port)
	if v := stats["system"].(map[string]any)["comfyui_version"]; v != "0.3.0" {
		t.Errorf("comfyui_version %v, want the v0.3.0 tag", v)
	}
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(spec.Port) + "/object_info/FakeUpscaleText")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `"python_module": "custom_nodes.custom-node"`) {
		t.Errorf("custom node not loaded: %s", body)
	}
}
