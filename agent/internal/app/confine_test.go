package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
)

// filesUnder lists every regular file below dir (following no symlinks).
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestModelStoreWritesStayInside: with folders of the store symlinked outside it, no write
// path of the real agent (download request, import of a launcher JSON) writes there; each is
// refused with a 400 envelope that names the path and the symlink.
func TestModelStoreWritesStayInside(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	a, srv := newTestApp(t, nil)
	root := a.cfg.Paths.ModelsDir
	if err := os.MkdirAll(filepath.Join(root, "checkpoints"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "checkpoints", "linkdir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "loras")); err != nil {
		t.Fatal(err)
	}
	file := faultserver.NewFile(4096, 1)
	t.Cleanup(file.Close)

	downloads := []struct {
		name, body, wantInMsg string
	}{
		{"symlinked subfolder", `{"url":%q,"folder":"checkpoints","filename":"linkdir/x.safetensors"}`, "checkpoints/linkdir is a symlink to " + outside},
		{"symlinked folder", `{"url":%q,"folder":"loras","filename":"x.safetensors"}`, "loras is a symlink to " + outside},
		{"dot-dot", `{"url":%q,"folder":"checkpoints","filename":"../../x.safetensors"}`, `".." is not allowed`},
		{"absolute", `{"url":%q,"folder":"checkpoints","filename":"` + outside + `/x.safetensors"}`, "absolute paths are not allowed"},
	}
	for _, tc := range downloads {
		t.Run("download "+tc.name, func(t *testing.T) {
			code, body := call(t, "POST", srv.URL+"/api/models/download", fmt.Sprintf(tc.body, file.URL()))
			if code != 400 || body["type"] == nil || !strings.Contains(fmt.Sprint(body["error"]), tc.wantInMsg) {
				t.Fatalf("got %d %v, want 400 naming %q", code, body, tc.wantInMsg)
			}
			if s, _ := body["suggestions"].([]any); len(s) == 0 {
				t.Errorf("refusal without suggestions: %v", body)
			}
		})
	}

	// A model already there through the symlink needs no write: ComfyUI reads it too.
	present := filepath.Join(outside, "present.safetensors")
	if err := os.WriteFile(present, []byte("on the NAS"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body := call(t, "POST", srv.URL+"/api/models/download",
		fmt.Sprintf(`{"url":%q,"folder":"checkpoints","filename":"linkdir/present.safetensors"}`, file.URL()))
	if code != 200 || body["status"] != "exists" {
		t.Errorf("download of a model already behind the symlink: %d %v, want 200 exists", code, body)
	}
	os.Remove(present)

	launcher := func(dest string) string {
		lj, _ := json.Marshal(map[string]any{
			"format": "comfyui_launcher", "version": "1.0", "workflow_json": map[string]any{"nodes": []any{}},
			"snapshot_json": map[string]any{"comfyui": nil, "git_custom_nodes": map[string]any{}},
			"files":         [][]map[string]any{{{"download_url": file.URL(), "dest_relative_path": dest, "sha256_checksum": "", "size": 4096}}},
		})
		return `{"name":"imp","import_json":` + string(lj) + `}`
	}
	imports := []struct{ name, dest, wantInMsg string }{
		{"symlinked subfolder", "models/checkpoints/linkdir/x.safetensors", "checkpoints/linkdir is a symlink to " + outside},
		{"symlinked folder", "models/loras/x.safetensors", "loras is a symlink to " + outside},
		{"dot-dot", "models/../../../x.safetensors", "dest_relative_path"},
		{"absolute", outside + "/models/checkpoints/x.safetensors", "dest_relative_path"},
	}
	for _, tc := range imports {
		t.Run("import "+tc.name, func(t *testing.T) {
			code, body := call(t, "POST", srv.URL+"/api/import_project", launcher(tc.dest))
			if code != 400 || !strings.Contains(fmt.Sprint(body["error"]), tc.wantInMsg) {
				t.Fatalf("got %d %v, want 400 naming %q", code, body, tc.wantInMsg)
			}
			if code, _ := call(t, "GET", srv.URL+"/api/projects/imp", ""); code != 404 {
				t.Errorf("a refused import left project imp (GET %d)", code)
			}
		})
	}
	if got := filesUnder(t, outside); len(got) != 0 {
		t.Fatalf("files written outside the store: %v", got)
	}
}

// TestStagingFolderOutsideRefused: a .partial staging folder that is a symlink out of the store
// makes downloads fail with a permission error instead of writing partials there, and the
// start-up cleanup of abandoned partials deletes nothing there.
func TestStagingFolderOutsideRefused(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	planted := filepath.Join(outside, "op_unknown.part") // looks abandoned: cleanup would remove it
	if err := os.WriteFile(planted, []byte("not the agent's"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, srv := newTestApp(t, func(c *config.Config) {
		os.MkdirAll(c.Paths.ModelsDir, 0o755)
		os.Symlink(outside, filepath.Join(c.Paths.ModelsDir, ".partial"))
	})
	if _, err := os.Stat(planted); err != nil {
		t.Fatalf("start-up cleanup deleted a file outside the store: %v", err)
	}
	file := faultserver.NewFile(4096, 2)
	t.Cleanup(file.Close)
	code, body := call(t, "POST", srv.URL+"/api/models/download", fmt.Sprintf(`{"url":%q,"folder":"checkpoints"}`, file.URL()))
	if code != 202 {
		t.Fatalf("download: %d %v", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	op, err := a.recovery.Wait(ctx, body["operation_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if op.State == recovery.StateSuccess || op.ErrorClass != recovery.ClassPermission || !strings.Contains(op.Error, ".partial is a symlink to "+outside) {
		t.Fatalf("operation %s (%s): %s; want a permission failure naming .partial", op.State, op.ErrorClass, op.Error)
	}
	if got := filesUnder(t, outside); len(got) != 1 || got[0] != planted {
		t.Fatalf("files written outside the store: %v", got)
	}
	if _, err := os.Stat(filepath.Join(a.cfg.Paths.ModelsDir, "checkpoints", "file.safetensors")); err == nil {
		t.Error("the download was published anyway")
	}
}

// TestDedupeStaysInside: POST /api/models/dedupe neither replaces a file reached through a
// symlinked folder by a link nor links such a file into the store.
func TestDedupeStaysInside(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	a, srv := newTestApp(t, nil)
	root := a.cfg.Paths.ModelsDir
	write := func(p, content string) os.FileInfo {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(p)
		return fi
	}
	// Sorted first, the inside copy is kept and the outside one would become a link to it.
	write(filepath.Join(root, "checkpoints", "a.safetensors"), "same content one")
	out1 := write(filepath.Join(outside, "b.safetensors"), "same content one")
	// Here the outside copy sorts first and would be linked over the inside one.
	out2 := write(filepath.Join(outside, "c.safetensors"), "same content two")
	in2 := write(filepath.Join(root, "checkpoints", "z.safetensors"), "same content two")
	if err := os.Symlink(outside, filepath.Join(root, "checkpoints", "linkdir")); err != nil {
		t.Fatal(err)
	}
	if err := a.models.Rescan(); err != nil {
		t.Fatal(err)
	}
	code, rep := call(t, "POST", srv.URL+"/api/models/dedupe", `{}`)
	if code != 200 {
		t.Fatalf("dedupe: %d %v", code, rep)
	}
	errs := fmt.Sprint(rep["errors"])
	if rep["files_linked"].(float64) != 0 || !strings.Contains(errs, "checkpoints/linkdir is a symlink to "+outside) {
		t.Errorf("dedupe report %v: want no links and errors naming the symlink", rep)
	}
	for p, before := range map[string]os.FileInfo{
		filepath.Join(outside, "b.safetensors"): out1, filepath.Join(outside, "c.safetensors"): out2,
		filepath.Join(root, "checkpoints", "z.safetensors"): in2,
	} {
		now, err := os.Stat(p)
		if err != nil || !os.SameFile(before, now) {
			t.Errorf("%s was replaced by dedupe", p)
		}
	}
}
