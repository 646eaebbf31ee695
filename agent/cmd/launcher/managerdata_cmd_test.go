package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// offlineConfig is a config whose Manager URLs answer 404 on loopback (a node without internet)
// and whose max_age is long enough that no copy counts as stale on any test date.
func offlineConfig(t *testing.T, dataDir string) string {
	t.Helper()
	return writeTestConfig(t, dataDir, `manager.max_age = "876000h"`)
}

type managerHealth struct {
	Status     string `json:"status"`
	Components map[string]struct {
		OK     bool `json:"ok"`
		Detail struct {
			State    string   `json:"state"`
			Warnings []string `json:"warnings"`
		} `json:"detail"`
	} `json:"components"`
}

// waitManagerHealth polls /api/health until the Manager data has left "loading".
func waitManagerHealth(t *testing.T, url string) managerHealth {
	t.Helper()
	for i := 0; ; i++ {
		resp, err := http.Get(url + "/api/health")
		if err != nil {
			t.Fatal(err)
		}
		var h managerHealth
		err = json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if h.Components["manager_data"].Detail.State != "loading" || i > 2000 {
			return h
		}
	}
}

func TestManagerDataOfflineNode(t *testing.T) {
	fixture, err := filepath.Abs("../../internal/workflow/testdata/manager")
	if err != nil {
		t.Fatal(err)
	}
	ggufWorkflow := filepath.Join(t.TempDir(), "gguf.json")
	os.WriteFile(ggufWorkflow, []byte(`{"1": {"class_type": "UnetLoaderGGUF", "inputs": {"unet_name": "x.gguf"}}}`), 0o644)
	launcher := func(args ...string) (string, error) {
		out, err := exec.Command(launcherBin, args...).CombinedOutput()
		return string(out), err
	}

	t.Run("fresh agent without internet is degraded and says how to fix it", func(t *testing.T) {
		data := t.TempDir()
		cfg := offlineConfig(t, data)
		a := startAgent(t, "serve", "--config", cfg)
		h := waitManagerHealth(t, a.url)
		md := h.Components["manager_data"]
		ws := strings.Join(md.Detail.Warnings, "\n")
		if h.Status != "degraded" || md.OK || md.Detail.State != "missing" ||
			!strings.Contains(ws, "manager.extension_node_map_url") || !strings.Contains(ws, "launcher manager-data import") {
			t.Fatalf("health = %+v", h)
		}
		// Through the running agent, a folder outside its [manager] import_root is refused...
		out, err := launcher("manager-data", "import", "--agent", a.url, fixture)
		if err == nil || !strings.Contains(out, "outside the import root") {
			t.Fatalf("import of a folder outside the import root: %v\n%s", err, out)
		}
		// ...and a copy inside it (<data_dir>/manager-import by default) imports: health turns
		// ok without a restart.
		inRoot := filepath.Join(data, "manager-import", "copy")
		if err := os.MkdirAll(inRoot, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"extension-node-map.json", "github-stats.json", "model-list.json", "custom-node-list.json"} {
			b, err := os.ReadFile(filepath.Join(fixture, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(inRoot, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out, err = launcher("manager-data", "import", "--agent", a.url, inRoot)
		if err != nil || !strings.Contains(out, "imported 4 of 4") {
			t.Fatalf("import through the agent: %v\n%s", err, out)
		}
		if h := waitManagerHealth(t, a.url); h.Components["manager_data"].Detail.State != "ok" || !h.Components["manager_data"].OK {
			t.Errorf("health after import = %+v", h)
		}
	})

	t.Run("import before start; inspect and the agent share the cache", func(t *testing.T) {
		cfg := offlineConfig(t, t.TempDir())
		out, err := launcher("manager-data", "status", "--config", cfg)
		if err != nil || !strings.Contains(out, "state: missing") || !strings.Contains(out, "manager.model_list_url") {
			t.Fatalf("status of an empty cache: %v\n%s", err, out)
		}
		out, err = launcher("workflow", "inspect", "--config", cfg, "--json", ggufWorkflow)
		if err != nil || strings.Contains(out, "ComfyUI-GGUF") {
			t.Fatalf("inspect without data should not resolve the pack: %v\n%s", err, out)
		}
		out, err = launcher("manager-data", "import", "--config", cfg, "--date", "2026-11-30", fixture)
		if err != nil || !strings.Contains(out, "imported 4 of 4") || !strings.Contains(out, "2026-11-30T00:00:00Z") {
			t.Fatalf("import: %v\n%s", err, out)
		}
		out, err = launcher("workflow", "inspect", "--config", cfg, "--json", ggufWorkflow)
		if err != nil || !strings.Contains(out, "https://github.com/city96/ComfyUI-GGUF") {
			t.Fatalf("inspect after import did not use the agent's cache: %v\n%s", err, out)
		}
		a := startAgent(t, "serve", "--config", cfg)
		if h := waitManagerHealth(t, a.url); h.Status != "ok" || h.Components["manager_data"].Detail.State != "ok" {
			t.Errorf("health after an import before start = %+v", h)
		}
	})

	t.Run("bad input names the problem", func(t *testing.T) {
		cfg := offlineConfig(t, t.TempDir())
		cases := []struct {
			args []string
			want string
		}{
			{[]string{"manager-data", "import", "--config", cfg, t.TempDir()}, "holds none of"},
			{[]string{"manager-data", "import", "--config", cfg, "--date", "last week", fixture}, "--date"},
			{[]string{"manager-data", "import", "--config", cfg}, "want exactly one DIR or URL"},
			{[]string{"manager-data", "frobnicate"}, "want status or import"},
		}
		for _, c := range cases {
			out, err := launcher(c.args...)
			if err == nil || !strings.Contains(out, c.want) {
				t.Errorf("%v: %v\n%s", c.args, err, out)
			}
		}
	})
}
