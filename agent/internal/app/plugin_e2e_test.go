package app

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/extension/plugintest"
)

var (
	registrySourceOnce sync.Once
	registrySourceBin  string
	registrySourceErr  error
)

// registrySource builds plugins/registry-source once per test binary.
func registrySource(t *testing.T) (path, sum string) {
	t.Helper()
	registrySourceOnce.Do(func() {
		dir, err := os.MkdirTemp("", "registry-source-")
		if err != nil {
			registrySourceErr = err
			return
		}
		bins, err := plugintest.Build(dir, "plugins/registry-source")
		registrySourceBin, registrySourceErr = bins["registry-source"], err
	})
	if registrySourceErr != nil {
		t.Fatal(registrySourceErr)
	}
	b, err := os.ReadFile(registrySourceBin)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return registrySourceBin, hex.EncodeToString(h[:])
}

// houseRegistry is a private model registry on loopback: an index and files behind a bearer
// token.
type houseRegistry struct {
	*httptest.Server
	token     string
	downloads atomic.Int32
	refused   atomic.Int32
}

func newHouseRegistry(t *testing.T, token string, files map[string][]byte) *houseRegistry {
	t.Helper()
	r := &houseRegistry{token: token}
	type entry struct {
		Name   string `json:"name"`
		Folder string `json:"folder"`
		SHA256 string `json:"sha256"`
		Size   int    `json:"size"`
		URL    string `json:"url"`
	}
	var ix struct {
		Models []entry `json:"models"`
	}
	for name, body := range files {
		h := sha256.Sum256(body)
		ix.Models = append(ix.Models, entry{Name: name, Folder: "checkpoints", SHA256: hex.EncodeToString(h[:]), Size: len(body), URL: "files/" + name})
	}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != "Bearer "+token {
			r.refused.Add(1)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch {
		case req.URL.Path == "/v1/index.json":
			json.NewEncoder(w).Encode(ix)
		case strings.HasPrefix(req.URL.Path, "/v1/files/"):
			body, ok := files[strings.TrimPrefix(req.URL.Path, "/v1/files/")]
			if !ok {
				http.NotFound(w, req)
				return
			}
			r.downloads.Add(1)
			http.ServeContent(w, req, "", time.Time{}, strings.NewReader(string(body)))
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

const houseWorkflow = `{"last_node_id":1,"last_link_id":0,"version":0.4,"links":[],"nodes":[
 {"id":1,"type":"CheckpointLoaderSimple","pos":[0,0],"size":[300,100],"mode":0,"order":0,
  "inputs":[],"outputs":[{"name":"MODEL","type":"MODEL","links":null}],
  "widgets_values":["house-v3.safetensors"]}]}`

// TestRegistrySourcePluginEndToEnd: a workflow needs a house model that only the private
// registry has; the registry-source plugin (a real process) finds it, the import needs no
// manual step, the download carries the registry's token and is verified by its sha256, and
// the project installs with the model in place.
func TestRegistrySourcePluginEndToEnd(t *testing.T) {
	for _, tool := range []string{"git", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: needed to install projects", tool)
		}
	}
	bin, sum := registrySource(t)
	model := []byte("house checkpoint v3 " + strings.Repeat("x", 4096))
	reg := newHouseRegistry(t, "house-s3cret", map[string][]byte{"house-v3.safetensors": model})
	t.Setenv("HOUSE_REGISTRY_TOKEN", reg.token)
	t.Setenv("FAKE_COMFYUI_DELAY", "0.1")

	root := repoRoot(t)
	fixtures := filepath.Join(t.TempDir(), "fixtures")
	if out, err := exec.Command(filepath.Join(root, "scripts", "make-fixtures.sh"), fixtures).CombinedOutput(); err != nil {
		t.Fatalf("make fixtures: %v\n%s", err, out)
	}
	var modelsDir string
	_, srv := newTestApp(t, func(c *config.Config) {
		modelsDir = c.Paths.ModelsDir
		c.ComfyUI.Repo = filepath.Join(fixtures, "ComfyUI.git")
		c.Extensions = []config.ExtensionConfig{{Name: "house", Path: bin, SHA256: sum,
			Config: map[string]any{"url": reg.URL + "/v1/index.json", "token_env": "HOUSE_REGISTRY_TOKEN"}}}
	})

	code, ext := call(t, "GET", srv.URL+"/api/extensions/plugin.house", "")
	if code != 200 || ext["state"] != "loaded" || ext["transport"] != "plugin" || ext["version"] != "1.0.0" {
		t.Fatalf("GET /api/extensions/plugin.house: %d %v", code, ext)
	}

	body, _ := json.Marshal(map[string]any{"name": "house", "import_json": json.RawMessage(houseWorkflow)})
	code, out := call(t, "POST", srv.URL+"/api/import_project", string(body))
	if code != 200 {
		t.Fatalf("import_project: %d %v", code, out)
	}
	waitProjectState(t, srv.URL, "house", "ready")

	got, err := os.ReadFile(filepath.Join(modelsDir, "checkpoints", "house-v3.safetensors"))
	if err != nil || string(got) != string(model) {
		t.Fatalf("the house model is not in the store (%v)", err)
	}
	// The download was resolved by the plugin and verified against the registry's hash.
	h := sha256.Sum256(model)
	_, dls := call(t, "GET", srv.URL+"/api/downloads", "")
	raw, _ := json.Marshal(dls["downloads"])
	var views []struct {
		State, SHA256, URL string
	}
	json.Unmarshal(raw, &views)
	if len(views) != 1 || views[0].State != "success" || views[0].SHA256 != hex.EncodeToString(h[:]) ||
		views[0].URL != reg.URL+"/v1/files/house-v3.safetensors" {
		t.Fatalf("downloads: %s", raw)
	}
	if reg.downloads.Load() < 1 || reg.refused.Load() != 0 {
		t.Fatalf("registry saw %d downloads, %d refused requests", reg.downloads.Load(), reg.refused.Load())
	}
	_, list := call(t, "GET", srv.URL+"/api/extensions", "")
	var st map[string]any
	for _, e := range list["extensions"].([]any) {
		if m := e.(map[string]any); m["id"] == "plugin.house" {
			st = m
		}
	}
	if st == nil || st["stats"].(map[string]any)["calls"].(float64) < 2 {
		t.Fatalf("plugin.house in /api/extensions: %v", st)
	}
}
