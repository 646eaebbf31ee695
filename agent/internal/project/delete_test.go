package project

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Deleting a project while its install runs cancels the install (killing its subprocess),
// leaves no folder behind, and the same name can be created again from scratch.
func TestDeleteDuringInstall(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	writeFiles(t, h.fx.Node, map[string]string{"install.py": "import time\nopen('started.marker','w').write('1')\ntime.sleep(600)\n"})
	git(t, h.fx.Node, "commit", "-q", "-am", "slow install")
	hash := git(t, h.fx.Node, "rev-parse", "HEAD")
	lj := fmt.Sprintf(`{"snapshot_json":{"comfyui":null,"git_custom_nodes":{%q:{"hash":%q,"disabled":false}}}}`, h.fx.Node, hash)
	ctx := context.Background()
	p, err := h.m.Create(ctx, CreateRequest{Name: "doomed", LauncherJSON: []byte(lj)})
	if err != nil {
		t.Fatal(err)
	}
	started := filepath.Join(h.m.Dir(p.ID), "comfyui", "custom_nodes", "custom-node", "started.marker")
	for i := 0; !fileExists(started); i++ {
		if i > 6000 {
			t.Fatal("install.py never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitState(t, h.m, p.ID, StateInstallCustomNodes)
	if err := h.m.Delete(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(h.m.Dir(p.ID)); !os.IsNotExist(err) {
		t.Fatalf("folder left behind: %v", err)
	}
	if _, err := h.m.Get(p.ID); err == nil {
		t.Fatal("project still listed")
	}
	p, err = h.m.Create(ctx, CreateRequest{Name: "doomed"})
	if err != nil {
		t.Fatal(err)
	}
	if p = waitSettled(t, h.m, p.ID); p.State != StateReady {
		t.Fatalf("re-created project: %s %+v", p.State, p.Failure)
	}
}
