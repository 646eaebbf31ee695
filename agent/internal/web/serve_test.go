package web_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/app"
	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/config/configtest"
	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
)

type answer struct {
	code  int
	ctype string
	etag  string
	body  string
}

func get(t *testing.T, method, url string, hdr map[string]string) answer {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(""))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("ETag"), string(b)}
}

// TestUIDir serves another UI's build from server.ui_dir with the single-page-app fallback,
// confined to the folder, and never in place of /api, /ws, /socket.io or /comfy.
func TestUIDir(t *testing.T) {
	t.Parallel()
	ui := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("TOP SECRET"), 0o644)
	os.MkdirAll(filepath.Join(ui, "assets"), 0o755)
	os.WriteFile(filepath.Join(ui, "index.html"), []byte("<html>the other UI</html>"), 0o644)
	os.WriteFile(filepath.Join(ui, "assets", "app.js"), []byte("console.log('other ui')"), 0o644)
	os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(ui, "leak.txt"))
	os.Symlink(outside, filepath.Join(ui, "escape"))
	ag := startAgent(t, func(c *config.Config) { c.Server.UIDir = ui })

	index := func(a answer) bool { return strings.Contains(a.body, "the other UI") }
	if a := get(t, "GET", ag.url+"/", nil); a.code != 200 || !index(a) || !strings.HasPrefix(a.ctype, "text/html") {
		t.Fatalf("GET / = %d %q %q", a.code, a.ctype, a.body)
	}
	if a := get(t, "GET", ag.url+"/assets/app.js", nil); a.code != 200 || !strings.Contains(a.body, "console.log") || !strings.Contains(a.ctype, "javascript") {
		t.Fatalf("GET /assets/app.js = %d %q %q", a.code, a.ctype, a.body)
	}
	for _, p := range []string{"/new", "/projects/my-project/settings", "/import?x=1"} {
		if a := get(t, "GET", ag.url+p, nil); a.code != 200 || !index(a) {
			t.Fatalf("SPA fallback GET %s = %d %q", p, a.code, a.body)
		}
	}
	if a := get(t, "HEAD", ag.url+"/new", nil); a.code != 200 {
		t.Fatalf("HEAD /new = %d", a.code)
	}
	for _, p := range []string{"/leak.txt", "/escape/secret.txt", "/../secret.txt", "/%2e%2e/%2e%2e/secret.txt", "/assets/../../" + filepath.Base(outside) + "/secret.txt"} {
		if a := get(t, "GET", ag.url+p, nil); strings.Contains(a.body, "TOP SECRET") {
			t.Fatalf("GET %s left the ui_dir: %q", p, a.body)
		}
	}

	// The API's prefixes are never the UI's, routed or not.
	for _, p := range []string{"/api", "/api/", "/api/no-such-route", "/comfy/no-such-project/", "/comfy", "/ws/x", "/socket.io/x"} {
		a := get(t, "GET", ag.url+p, nil)
		if index(a) || a.code < 400 {
			t.Fatalf("GET %s = %d %q: the UI shadowed an API path", p, a.code, a.body)
		}
	}
	if a := get(t, "GET", ag.url+"/api/no-such-route", nil); !strings.Contains(a.body, `"suggestions"`) {
		t.Fatalf("unknown API route lost its error envelope: %q", a.body)
	}
	if a := get(t, "GET", ag.url+"/ws", nil); index(a) || a.code != http.StatusBadRequest {
		t.Fatalf("GET /ws without an upgrade = %d %q, want the WebSocket handler's 400", a.code, a.body)
	}
	if a := get(t, "GET", ag.url+"/socket.io/?EIO=4&transport=polling", nil); a.code != 200 || !strings.HasPrefix(a.body, "0{") {
		t.Fatalf("Engine.IO handshake = %d %q", a.code, a.body)
	}
	if a := get(t, "POST", ag.url+"/new", nil); index(a) || a.code != http.StatusNotFound {
		t.Fatalf("POST /new = %d %q, want the API's 404", a.code, a.body)
	}
	var folder map[string]any
	if ag.call("GET", "/api/open_models_folder", "", &folder) != 200 || folder["path"] != ag.cfg.Paths.ModelsDir {
		t.Fatalf("open_models_folder = %v", folder)
	}
}

func TestUIDirMustHoldAnIndex(t *testing.T) {
	t.Parallel()
	for name, dir := range map[string]string{"missing": filepath.Join(t.TempDir(), "nope"), "empty": t.TempDir()} {
		cfg := configtest.Offline()
		cfg.Paths.DataDir = t.TempDir()
		cfg.Paths.ModelsDir = filepath.Join(cfg.Paths.DataDir, "models")
		cfg.GPU.Provider = "none"
		cfg.Server.UIDir = dir
		_, err := app.New(cfg, slog.New(slog.DiscardHandler), "test", io.Discard)
		if err == nil || !strings.Contains(err.Error(), "server.ui_dir") || !strings.Contains(err.Error(), "index.html") {
			t.Fatalf("%s ui_dir: %v, want an error naming server.ui_dir and index.html", name, err)
		}
	}
}

// TestEmbeddedDashboard: the dashboard is served without a token (it asks for one), with a
// strict CSP and revalidation by ETag; the API behind it still needs the token.
func TestEmbeddedDashboard(t *testing.T) {
	t.Parallel()
	ag := startAgent(t, func(c *config.Config) { c.Server.Token = "embedded-dashboard-token-123" })
	a := get(t, "GET", ag.url+"/", nil)
	if a.code != 200 || !strings.Contains(a.body, `src="js/main.js"`) {
		t.Fatalf("GET / = %d %q", a.code, a.body)
	}
	resp, _ := http.Get(ag.url + "/")
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}
	js := get(t, "GET", ag.url+"/js/main.js", nil)
	if js.code != 200 || !strings.Contains(js.ctype, "javascript") || js.etag == "" {
		t.Fatalf("GET /js/main.js = %d %q etag %q", js.code, js.ctype, js.etag)
	}
	if again := get(t, "GET", ag.url+"/js/main.js", map[string]string{"If-None-Match": js.etag}); again.code != http.StatusNotModified {
		t.Fatalf("revalidation = %d, want 304", again.code)
	}
	req, _ := http.NewRequest("GET", ag.url+"/js/main.js", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	gz, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	gz.Body.Close()
	if gz.Header.Get("Content-Encoding") != "gzip" || gz.ContentLength >= int64(len(js.body)) {
		t.Fatalf("gzip: encoding %q, %d bytes for %d", gz.Header.Get("Content-Encoding"), gz.ContentLength, len(js.body))
	}
	if a := get(t, "GET", ag.url+"/no/such/page", nil); a.code != 200 || !strings.Contains(a.body, "js/main.js") {
		t.Fatalf("fallback = %d", a.code)
	}
	if a := get(t, "GET", ag.url+"/api/projects", nil); a.code != http.StatusUnauthorized {
		t.Fatalf("the API answered %d without a token", a.code)
	}
	// Every file the page loads is embedded (no CDN): each module it imports is served.
	for _, f := range []string{"/app.css", "/js/api.js", "/js/events.js", "/js/dom.js", "/js/pages/projects.js", "/js/pages/import.js"} {
		if a := get(t, "GET", ag.url+f, nil); a.code != 200 || strings.Contains(a.body, "<html") {
			t.Fatalf("GET %s = %d", f, a.code)
		}
	}
}

// TestTemplatesAPI: the shipped templates are listed and create projects through the real
// workflow service; a missing template and a duplicate name get clear 4xx answers.
func TestTemplatesAPI(t *testing.T) {
	t.Parallel()
	ag := startAgent(t, nil)
	var list struct {
		Templates []struct{ ID, Kind string } `json:"templates"`
	}
	if ag.call("GET", "/api/templates", "", &list) != 200 {
		t.Fatal("GET /api/templates failed")
	}
	ids := map[string]bool{}
	for _, tpl := range list.Templates {
		ids[tpl.ID] = true
	}
	for _, id := range []string{"empty", "animate_diff", "svd", "upscale", "img2img", "vid2vid", "img2vid"} {
		if !ids[id] {
			t.Fatalf("template %s missing from %v", id, list.Templates)
		}
	}
	var out map[string]any
	if code := ag.call("POST", "/api/create_project", `{"name":"from template","template_id":"img2img"}`, &out); code != 200 || out["id"] != "from-template" {
		t.Fatalf("create from img2img: %d %v", code, out)
	}
	if code := ag.call("POST", "/api/create_project", `{"name":"from template"}`, &out); code != http.StatusConflict || out["type"] != "ProjectExistsError" {
		t.Fatalf("duplicate name: %d %v", code, out)
	}
	code := ag.call("POST", "/api/create_project", `{"name":"other","template_id":"no_such_template"}`, &out)
	sugg, _ := json.Marshal(out["suggestions"])
	if code != http.StatusNotFound || out["type"] != "TemplateNotFoundError" || !strings.Contains(string(sugg), "animate_diff") {
		t.Fatalf("missing template: %d %v", code, out)
	}
}

// TestLauncherInputFileInstall installs a launcher JSON whose files put an example image
// under input/ (as the original templates do): the install downloads it into the project's
// ComfyUI input folder.
func TestLauncherInputFileInstall(t *testing.T) {
	t.Parallel()
	fx := fixtures(t)
	img := []byte("\x89PNG example for the template")
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(img) }))
	defer files.Close()
	ag := startAgent(t, func(c *config.Config) {
		c.ComfyUI.Repo = fx
		c.ComfyUI.Python = projecttest.Python(t)
	})
	lj := `{"format":"comfyui_launcher","version":"1.0","workflow_json":{"nodes":[]},"snapshot_json":{"comfyui":null,"git_custom_nodes":{}},` +
		`"files":[[{"download_url":"` + files.URL + `/example.png","dest_relative_path":"input/example.png","sha256_checksum":"","size":0}]],"pip_requirements":[]}`
	var out map[string]any
	if code := ag.call("POST", "/api/create_project", `{"name":"with input","launcher_json":`+lj+`}`, &out); code != 200 {
		t.Fatalf("create: %d %v", code, out)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var p struct {
			State struct {
				State string `json:"state"`
				Error string `json:"error"`
			} `json:"state"`
			Path string `json:"project_folder_path"`
		}
		ag.call("GET", "/api/projects/with-input", "", &p)
		if p.State.State == "failed" {
			t.Fatalf("install failed: %s", p.State.Error)
		}
		if p.State.State == "ready" {
			got, err := os.ReadFile(filepath.Join(p.Path, "comfyui", "input", "example.png"))
			if err != nil || string(got) != string(img) {
				t.Fatalf("input/example.png = %q, %v", got, err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %s", p.State.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
