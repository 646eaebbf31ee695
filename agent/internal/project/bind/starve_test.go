package bind

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/models"
	"github.com/comfylauncher/launcher/agent/internal/models/sources"
	"github.com/comfylauncher/launcher/agent/internal/project"
	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/store"
)

// TestInstallsDoNotStarveTheirDownloads: with one recovery worker, two installs whose
// download_files step waits for a model download operation both finish. The install that
// waits gives its worker to the download instead of holding it.
func TestInstallsDoNotStarveTheirDownloads(t *testing.T) {
	t.Parallel()
	files := map[string][]byte{"/a.safetensors": []byte("weights of a"), "/b.safetensors": []byte("weights of b")}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()

	m, modelsDir := startModelAgent(t, recovery.Options{Workers: 1})
	for _, name := range []string{"a", "b"} {
		sum := sha256.Sum256(files["/"+name+".safetensors"])
		lj := fmt.Sprintf(`{"format":"comfyui_launcher","snapshot_json":{"comfyui":null,"git_custom_nodes":{}},
"files":[[{"download_url":"%s/%s.safetensors","dest_relative_path":"models/checkpoints/%s.safetensors","sha256_checksum":"%s"}]]}`,
			srv.URL, name, name, hex.EncodeToString(sum[:]))
		if _, err := m.Create(context.Background(), project.CreateRequest{Name: "starve-" + name, LauncherJSON: []byte(lj)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a", "b"} {
		p := settled(t, m, "starve-"+name)
		if p.State != project.StateReady {
			t.Fatalf("%s: state %s failure %+v", p.ID, p.State, p.Failure)
		}
		got, err := os.ReadFile(filepath.Join(modelsDir, "checkpoints", name+".safetensors"))
		if err != nil || string(got) != string(files["/"+name+".safetensors"]) {
			t.Fatalf("stored %s = %q, %v", name, got, err)
		}
	}
}

// startModelAgent is a manager whose installs download through the real model store and
// recovery runner (with opts), started in the documented order; it returns the store's root.
func startModelAgent(t *testing.T, opts recovery.Options) (*project.Manager, string) {
	t.Helper()
	fx := projecttest.MakeFixtures(t)
	data := t.TempDir()
	db, err := store.Open(filepath.Join(data, "db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.EnsureBuckets(store.DefaultBuckets...); err != nil {
		t.Fatal(err)
	}
	r := recovery.New(db, nil, opts)
	modelsDir := filepath.Join(data, "models")
	reg := sources.Of(sources.Direct{})
	ms, err := models.New(models.Options{ModelsDir: modelsDir}, db, r, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	m := project.New(project.Deps{Store: db, Ops: RecoveryOps{Runner: r}, Models: Models{Service: ms}},
		project.Options{DataDir: data, ModelsDir: modelsDir, Repo: fx.ComfyUI, Python: projecttest.Python(t), ReconcileInterval: -1})
	if err := m.Register(); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(context.Background()) })
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(context.Background()) })
	return m, modelsDir
}
