package bind

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/project"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

// TestInstallDownloadsThroughModelStore: the download_files step fetches the launcher JSON's
// files into the shared store, trying alternatives in order, and ComfyUI gets the store's
// extra_model_paths.yaml (no per-project copy).
func TestInstallDownloadsThroughModelStore(t *testing.T) {
	t.Parallel()
	content := []byte("fake model weights")
	sum := sha256.Sum256(content)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/good.safetensors" {
			http.NotFound(w, r)
			return
		}
		w.Write(content)
	}))
	defer srv.Close()

	m, modelsDir := startModelAgent(t, recovery.Options{})
	data := filepath.Dir(modelsDir)

	lj := fmt.Sprintf(`{"format":"comfyui_launcher","snapshot_json":{"comfyui":null,"git_custom_nodes":{}},
"files":[[{"download_url":"%s/missing.safetensors","dest_relative_path":"models/checkpoints/x.safetensors","sha256_checksum":"%s","size":18},
          {"download_url":"%s/good.safetensors","dest_relative_path":"models/checkpoints/x.safetensors","sha256_checksum":"%s","size":18}]]}`,
		srv.URL, hex.EncodeToString(sum[:]), srv.URL, hex.EncodeToString(sum[:]))
	p, err := m.Create(context.Background(), project.CreateRequest{Name: "dl", LauncherJSON: []byte(lj)})
	if err != nil {
		t.Fatal(err)
	}
	p = settled(t, m, p.ID)
	if p.State != project.StateReady {
		logs, _, _ := m.Logs(p.ID, 1, 1000, "")
		for _, e := range logs {
			t.Log(e)
		}
		t.Fatalf("state %s failure %+v", p.State, p.Failure)
	}
	got, err := os.ReadFile(filepath.Join(modelsDir, "checkpoints", "x.safetensors"))
	if err != nil || string(got) != string(content) {
		t.Fatalf("stored file = %q, %v", got, err)
	}
	yaml, _ := os.ReadFile(filepath.Join(data, "projects", p.ID, "extra_model_paths.yaml"))
	if !strings.Contains(string(yaml), modelsDir) {
		t.Fatalf("extra_model_paths.yaml does not point at the store:\n%s", yaml)
	}
	if _, err := os.Stat(filepath.Join(data, "projects", p.ID, "comfyui", "models", "checkpoints", "x.safetensors")); err == nil {
		t.Fatal("the model was copied into the project")
	}
	if paths := m.ModelsByProject()[p.ID]; len(paths) != 1 || paths[0] != "checkpoints/x.safetensors" {
		t.Fatalf("ModelsByProject = %v", paths)
	}
}
