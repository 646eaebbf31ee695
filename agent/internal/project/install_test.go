package project

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
)

func launcherWithNode(fx fixtures, comfyCommit string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{
  "format": "comfyui_launcher", "version": "1.0",
  "workflow_json": {"nodes": []},
  "snapshot_json": {"comfyui": %q, "git_custom_nodes": {%q: {"hash": %q, "disabled": false},
                     "https://example.invalid/x/Disabled-Node.git": {"hash": null, "disabled": true}}},
  "files": [[{"download_url": "", "dest_relative_path": "models/checkpoints/present.safetensors", "sha256_checksum": "", "size": 1}]],
  "pip_requirements": []
}`, comfyCommit, fx.Node, fx.NodeCommit))
}

func TestInstallPipeline(t *testing.T) {
	t.Parallel()
	// The real python3: this test proves the venv step itself (the others link a template).
	h := newHarness(t, func(o *Options) { o.Python = "python3" })
	// The file of the launcher JSON is already in the shared store, so no downloader is needed.
	writeFiles(t, h.opts.ModelsDir, map[string]string{"checkpoints/present.safetensors": "x"})

	p, err := h.m.Create(context.Background(), CreateRequest{Name: "My Project", LauncherJSON: launcherWithNode(h.fx, h.fx.V1)})
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "my-project" {
		t.Fatalf("id = %q, want my-project", p.ID)
	}
	p = waitSettled(t, h.m, p.ID)
	if p.State != StateReady || !p.Installed {
		t.Fatalf("state = %s installed=%v failure=%+v", p.State, p.Installed, p.Failure)
	}
	dir := h.m.Dir(p.ID)
	t.Run("comfyui at snapshot commit", func(t *testing.T) {
		if head := git(t, filepath.Join(dir, "comfyui"), "rev-parse", "HEAD"); head != h.fx.V1 {
			t.Fatalf("HEAD = %s, want %s", head, h.fx.V1)
		}
	})
	t.Run("venv created", func(t *testing.T) {
		if !fileExists(filepath.Join(dir, "venv", "bin", "python")) {
			t.Fatal("venv/bin/python missing")
		}
	})
	t.Run("custom node at hash with install.py run", func(t *testing.T) {
		node := filepath.Join(dir, "comfyui", "custom_nodes", "custom-node")
		if head := git(t, node, "rev-parse", "HEAD"); head != h.fx.NodeCommit {
			t.Fatalf("node HEAD = %s, want %s", head, h.fx.NodeCommit)
		}
		if !fileExists(filepath.Join(node, projecttest.NodeMarker)) {
			t.Fatal("install.py did not run")
		}
		if fileExists(filepath.Join(dir, "comfyui", "custom_nodes", "Disabled-Node")) {
			t.Fatal("disabled node was installed")
		}
	})
	t.Run("extra_model_paths points at the shared store", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(dir, "extra_model_paths.yaml"))
		if err != nil || !strings.Contains(string(b), h.opts.ModelsDir) {
			t.Fatalf("extra_model_paths.yaml = %q, %v", b, err)
		}
	})
	t.Run("subprocess output is in the logs", func(t *testing.T) {
		logs, pag, err := h.m.logs.Page(p.ID, 1, 1000, "")
		if err != nil || pag.Total == 0 {
			t.Fatalf("logs: %v total=%d", err, pag.Total)
		}
		var all []string
		for _, l := range logs {
			all = append(all, l.Message)
		}
		joined := strings.Join(all, "\n")
		for _, want := range []string{"$ git clone", "-m venv", "install.py"} {
			if !strings.Contains(joined, want) {
				t.Errorf("logs lack %q", want)
			}
		}
	})
	t.Run("models by project", func(t *testing.T) {
		got := h.m.ModelsByProject()[p.ID]
		if len(got) != 1 || got[0] != "checkpoints/present.safetensors" {
			t.Fatalf("ModelsByProject = %v", got)
		}
	})
	t.Run("progress reached 100", func(t *testing.T) {
		snap, ok := h.m.ProgressSnapshot(p.ID)
		if !ok || snap.Progress.(Progress).Progress != 100 {
			t.Fatalf("snapshot = %v", snap)
		}
		if h.ev.count("project:"+p.ID+" progress_update") < 5 {
			t.Fatal("too few progress_update events")
		}
	})
	t.Run("re-running every step is a no-op", func(t *testing.T) {
		for _, s := range h.m.install.definition().Steps {
			if err := s.Run(context.Background(), p.ID); err != nil {
				t.Fatalf("%s: %v", s.Name, err)
			}
		}
		logs, _, _ := h.m.logs.Page(p.ID, 1, 100000, "")
		n := 0
		for _, l := range logs {
			if strings.Contains(l.Message, "$ git clone") {
				n++
			}
		}
		if n != 2 { // ComfyUI and the custom node, once each
			t.Fatalf("git clone ran %d times, want 2", n)
		}
	})
}

// A ref that does not exist yet fails the install with the step, the error and suggestions;
// once the ref exists upstream, retry finishes it.
func TestFailedInstallThenRetry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.Ref = "v9.9.9" })
	p, err := h.m.Create(context.Background(), CreateRequest{Name: "late"})
	if err != nil {
		t.Fatal(err)
	}
	p = waitSettled(t, h.m, p.ID)
	if p.State != StateFailed || p.Failure == nil {
		t.Fatalf("state = %s, want failed", p.State)
	}
	if p.Failure.Step != stepDownloadComfyUI || !p.Failure.Retryable || len(p.Failure.Suggestions) == 0 {
		t.Fatalf("failure = %+v", p.Failure)
	}
	if !strings.Contains(p.Failure.Error, "v9.9.9") {
		t.Fatalf("error %q does not name the ref", p.Failure.Error)
	}
	if !fileExists(h.m.Dir(p.ID)) {
		t.Fatal("the failed project's folder was deleted")
	}
	errs, pag, _ := h.m.logs.Page(p.ID, 1, 100, LevelError)
	if pag.Total == 0 || len(errs) == 0 {
		t.Fatal("no error-level log entries")
	}

	git(t, h.fx.ComfyUI, "tag", "v9.9.9")
	if _, err := h.m.Retry(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
	p = waitSettled(t, h.m, p.ID)
	if p.State != StateReady || p.Failure != nil {
		t.Fatalf("after retry: state = %s failure = %+v", p.State, p.Failure)
	}
}
