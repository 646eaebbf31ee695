package workflowhttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/managerdata"
	"github.com/comfylauncher/launcher/agent/internal/workflow"
	"github.com/comfylauncher/launcher/agent/internal/workflow/workflowhttp"
	"github.com/comfylauncher/launcher/agent/internal/workflow/workflowtest"
)

// testService is a Service over the hermetic testdata/manager fixture and cat; no local
// safetensors header is read.
func testService(t testing.TB, cat workflow.ModelCatalog) *workflow.Service {
	t.Helper()
	return workflow.NewService(workflow.Options{Manager: workflowtest.Manager(t), Catalog: cat,
		ReadHeader: func(string) (workflow.TensorStats, error) { return workflow.TensorStats{}, os.ErrNotExist }})
}

func newTestServer(t testing.TB, s *workflow.Service) *httptest.Server {
	t.Helper()
	return newServerWithImportRoot(t, s, "")
}

// newServerWithImportRoot serves the routes with importRoot as [manager] import_root.
func newServerWithImportRoot(t testing.TB, s *workflow.Service, importRoot string) *httptest.Server {
	t.Helper()
	r := httprouter.New()
	workflowhttp.Routes(r, s, importRoot)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("response is not JSON (%d): %s", resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

func wrapBody(t *testing.T, file string) string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return `{"workflow_json": ` + string(raw) + `}`
}

func TestPreviewEndpoint(t *testing.T) {
	srv := newTestServer(t, testService(t, workflowtest.DefaultCatalog()))
	cases := []struct {
		name   string
		body   string
		status int
		check  func(t *testing.T, out map[string]any)
	}{
		{"ui workflow", wrapBody(t, "../testdata/workflows/ui_basic.json"), 200, func(t *testing.T, out map[string]any) {
			md := out["metadata"].(map[string]any)
			if out["success"] != true || md["workflow_type"] != "txt2img" {
				t.Errorf("got %v", out)
			}
			nodes := md["nodes"].([]any)
			n0 := nodes[0].(map[string]any)
			if n0["id"] != "4" || n0["type"] != "CheckpointLoaderSimple" || n0["title"] != "CheckpointLoaderSimple" {
				t.Errorf("node 0 = %v", n0)
			}
			m0 := md["required_models"].([]any)[0].(map[string]any)
			if m0["filename"] != "sd15/v1-5-pruned-emaonly-fp16.safetensors" || m0["node_type"] != "CheckpointLoaderSimple" || m0["node_id"] != "4" || m0["folder"] != "checkpoints" {
				t.Errorf("model 0 = %v", m0)
			}
			if v, ok := md["estimated_vram"].(float64); !ok || v < 2000 {
				t.Errorf("estimated_vram = %v", md["estimated_vram"])
			}
		}},
		{"workflow as a JSON string", `{"workflow_json": ` + strconvQuote(t, "../testdata/workflows/api_basic.json") + `}`, 200, func(t *testing.T, out map[string]any) {
			md := out["metadata"].(map[string]any)
			cn := md["required_custom_nodes"].([]any)
			if len(cn) != 3 || cn[0].(map[string]any)["repo"] != "https://github.com/claimer/pack" {
				t.Errorf("custom nodes = %v", cn)
			}
		}},
		{"missing workflow_json", `{"workflow": {}}`, 400, func(t *testing.T, out map[string]any) {
			if out["error"] != "workflow_json is required" || out["type"] != "ValidationError" {
				t.Errorf("got %v", out)
			}
		}},
		{"malformed body", `{"workflow_json": {"nodes": [}`, 400, nil},
		{"bad workflow", `{"workflow_json": {"nodes": [{"id": 1}]}}`, 400, func(t *testing.T, out map[string]any) {
			if !strings.Contains(out["error"].(string), `nodes[0] (id 1) has no string "type"`) || out["type"] != "WorkflowParseError" {
				t.Errorf("got %v", out)
			}
			if len(out["suggestions"].([]any)) == 0 {
				t.Error("no suggestions")
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out := post(t, srv.URL+"/api/workflow/preview", c.body)
			if status != c.status {
				t.Fatalf("status %d, want %d: %v", status, c.status, out)
			}
			if c.check != nil {
				c.check(t, out)
			}
		})
	}
}

func strconvQuote(t *testing.T, file string) string {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(string(raw))
	return string(b)
}

func TestValidateEndpoint(t *testing.T) {
	complete := &workflowtest.Catalog{Local: map[string]int64{
		"vae/ae.safetensors": 335_304_388, "text_encoders/t5xxl_fp8_e4m3fn.safetensors": 4_893_934_904,
		"text_encoders/clip_l.safetensors": 246_144_152, "diffusion_models/flux1-dev-fp8.safetensors": 11_901_517_864,
	}}
	cases := []struct {
		name        string
		cat         *workflowtest.Catalog
		wantSuccess bool
		wantMissing int
	}{
		{"all models local", complete, true, 0},
		{"models missing", &workflowtest.Catalog{Local: map[string]int64{"vae/ae.safetensors": 1}}, false, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newTestServer(t, testService(t, c.cat))
			status, out := post(t, srv.URL+"/api/workflow/validate", wrapBody(t, "../testdata/workflows/wrapped_runpod.json"))
			if status != 200 {
				t.Fatalf("status %d: %v", status, out)
			}
			if out["success"] != c.wantSuccess || len(out["missing_models"].([]any)) != c.wantMissing {
				t.Fatalf("success=%v missing=%v", out["success"], out["missing_models"])
			}
			if c.wantSuccess {
				lj := out["launcher_json"].(map[string]any)
				if lj["format"] != "comfyui_launcher" || lj["version"] != "1.0" || lj["workflow_json"] == nil {
					t.Errorf("launcher_json = %v", lj)
				}
				if _, ok := lj["snapshot_json"].(map[string]any)["git_custom_nodes"]; !ok {
					t.Error("snapshot_json.git_custom_nodes missing")
				}
			} else {
				if out["launcher_json"] != nil {
					t.Error("launcher_json must be null when models are missing")
				}
				mm := out["missing_models"].([]any)[0].(map[string]any)
				sugg := mm["suggestions"].([]any)
				if len(sugg) < 2 || mm["dest_relative_path"] == "" {
					t.Errorf("missing model entry = %v", mm)
				}
			}
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	s := workflow.NewService(workflow.Options{Limits: workflow.Limits{MaxBytes: 1000}})
	srv := newTestServer(t, s)
	body := `{"workflow_json": {"nodes": [], "pad": "` + strings.Repeat("x", 10000) + `"}}`
	resp, err := http.Post(srv.URL+"/api/workflow/preview", "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
}

func TestManagerDataRoutes(t *testing.T) {
	srv := newTestServer(t, workflow.NewService(workflow.Options{}))
	for _, path := range []string{"/api/manager-data", "/api/workflow/manager-data"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var out managerdata.Status
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if out.State != "missing" || len(out.Files) != 4 || out.Files[0].Present || !out.Files[0].Stale || len(out.Warnings) == 0 {
			t.Errorf("%s: status of an empty cache = %+v", path, out)
		}
	}
	// Refresh against unreachable URLs is a 503 naming the failure and the real config keys.
	unreachable := map[string]string{}
	for _, f := range managerdata.Files {
		unreachable[f] = "http://127.0.0.1:1/x"
	}
	s := workflow.NewService(workflow.Options{Manager: managerdata.New(managerdata.Options{URLs: unreachable})})
	srv2 := newTestServer(t, s)
	status, body := post(t, srv2.URL+"/api/manager-data/refresh", "")
	if status != http.StatusServiceUnavailable || body["type"] != "ManagerDataUnavailable" ||
		!strings.Contains(fmt.Sprint(body["suggestions"]), "manager.extension_node_map_url") ||
		strings.Contains(fmt.Sprint(body), "manager_urls") {
		t.Errorf("refresh: %d %v", status, body)
	}
}

func TestManagerDataImportRoute(t *testing.T) {
	cache := t.TempDir()
	data := managerdata.New(managerdata.Options{CacheDir: cache})
	if err := data.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The import root holds a copy of the Manager files; outside it lie the originals, reached
	// by an absolute path, "..", a symlinked folder and a symlinked file.
	root := t.TempDir()
	orig, err := filepath.Abs("../testdata/manager")
	if err != nil {
		t.Fatal(err)
	}
	copyDir(t, orig, filepath.Join(root, "copy"))
	if err := os.Symlink(orig, filepath.Join(root, "linked")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "filelink"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(orig, "model-list.json"), filepath.Join(root, "filelink", "model-list.json")); err != nil {
		t.Fatal(err)
	}
	srv := newServerWithImportRoot(t, workflow.NewService(workflow.Options{Manager: data}), root)
	abs := filepath.Join(root, "copy")
	cases := []struct {
		name   string
		body   string
		status int
		want   string
	}{
		{"no source", `{}`, 400, "source is required"},
		{"missing dir", `{"source": "nothing-here"}`, 400, "not a directory inside the import root"},
		{"absolute path outside the root", `{"source": "` + orig + `"}`, 400, "outside the import root"},
		{"dot-dot out of the root", `{"source": "copy/../../.."}`, 400, "import root"},
		{"symlinked folder out of the root", `{"source": "linked"}`, 400, "import root"},
		{"symlinked file out of the root", `{"source": "filelink"}`, 400, "model-list.json"},
		{"bad date", `{"source": "` + abs + `", "fetched_at": "yesterday"}`, 400, "RFC 3339"},
		{"not JSON", `{"source": `, 400, "JSON"},
		{"relative to the root", `{"source": "copy", "fetched_at": "2026-11-30T12:00:00Z"}`, 200, `"state":"ok"`},
		{"absolute inside the root", `{"source": "` + abs + `", "fetched_at": "2026-11-30T12:00:00Z"}`, 200, `"state":"ok"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/api/manager-data/import", "application/json", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(b), c.want) {
				t.Errorf("%d %s, want %d with %q", resp.StatusCode, b, c.status, c.want)
			}
		})
	}
	// Without an import root, directories are refused and nothing is read.
	noRoot := newTestServer(t, workflow.NewService(workflow.Options{Manager: data}))
	if status, body := post(t, noRoot.URL+"/api/manager-data/import", `{"source": "`+abs+`"}`); status != 400 || !strings.Contains(fmt.Sprint(body), "import_root is not set") {
		t.Errorf("no import root: %d %v", status, body)
	}
	// The import reaches analysis: a GGUF loader now resolves to its pack.
	status, out := post(t, srv.URL+"/api/workflow/preview", `{"workflow_json": {"1": {"class_type": "UnetLoaderGGUF", "inputs": {"unet_name": "x.gguf"}}}}`)
	md, _ := out["metadata"].(map[string]any)
	if status != 200 || !strings.Contains(fmt.Sprint(md["required_custom_nodes"]), "ComfyUI-GGUF") {
		t.Errorf("preview after import: %d %v", status, out)
	}
}

// TestPreviewFastPathSameAnswers: the one-parse path of the preview route answers exactly as
// analysing the workflow file does, for every test workflow and for bodies only the
// encoding/json path reads (other spellings of the field, trailing data).
func TestPreviewFastPathSameAnswers(t *testing.T) {
	s := testService(t, workflowtest.DefaultCatalog())
	srv := newTestServer(t, s)
	files, _ := filepath.Glob("../testdata/workflows/*.json")
	if len(files) == 0 {
		t.Fatal("no test workflows")
	}
	metadataOf := func(t *testing.T, body string) string {
		t.Helper()
		resp, err := http.Post(srv.URL+"/api/workflow/preview", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Metadata json.RawMessage `json:"metadata"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d: %v", resp.StatusCode, err)
		}
		return string(out.Metadata)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			a, err := s.Analyze(context.Background(), raw)
			if err != nil {
				t.Skipf("not a valid workflow: %v", err)
			}
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			enc.Encode(a.Metadata)
			for name, body := range map[string]string{
				"fast":       `{"workflow_json": ` + string(raw) + `}`,
				"other case": `{"Workflow_JSON": ` + string(raw) + `}`,
				"trailing":   `{"workflow_json": ` + string(raw) + `} trailing`,
				"twin":       `{"workflow_json": {"nodes": []}, "WORKFLOW_JSON": ` + string(raw) + `}`,
			} {
				if got := metadataOf(t, body); got != strings.TrimSpace(want.String()) {
					t.Errorf("%s: metadata differs from Analyze:\n got %.300s\nwant %.300s", name, got, want.String())
				}
			}
		})
	}
}

// TestPreviewWhileManagerDataLoads: a preview during the start-up load waits at most LoadWait,
// then answers with what it has and says the data is still loading.
func TestPreviewWhileManagerDataLoads(t *testing.T) {
	data := managerdata.New(managerdata.Options{SeedDir: "../testdata/manager"}) // never loaded
	srv := newTestServer(t, workflow.NewService(workflow.Options{Manager: data, LoadWait: time.Nanosecond}))
	body := `{"workflow_json": {"1": {"class_type": "UnetLoaderGGUF", "inputs": {"unet_name": "x.gguf"}}}}`
	status, out := post(t, srv.URL+"/api/workflow/preview", body)
	md, _ := out["metadata"].(map[string]any)
	if status != 200 || !strings.Contains(fmt.Sprint(md["warnings"]), "still loading") {
		t.Fatalf("preview during the load: %d %v", status, out)
	}
	if err := data.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	status, out = post(t, srv.URL+"/api/workflow/preview", body)
	md, _ = out["metadata"].(map[string]any)
	if status != 200 || strings.Contains(fmt.Sprint(md["warnings"]), "still loading") ||
		!strings.Contains(fmt.Sprint(md["required_custom_nodes"]), "ComfyUI-GGUF") {
		t.Errorf("preview after the load: %d %v", status, out)
	}
}

// copyDir copies the regular files of src into a new folder dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPreviewAnswersDoNotMix: requests for different workflows, sent one after the other and
// side by side, each get the answer of their own workflow, whatever the request before them
// carried; a workflow sent as a JSON string gets the answer of the object form.
func TestPreviewAnswersDoNotMix(t *testing.T) {
	s := testService(t, workflowtest.DefaultCatalog())
	srv := newTestServer(t, s)
	files, _ := filepath.Glob("../testdata/workflows/*.json")
	if dir, ok := workflowtest.Corpus("workflows"); ok {
		files = append(files, filepath.Join(dir, "ltxvideo__LTX-2_ICLoRA_All_Distilled.json"))
	}
	metadataOf := func(body string) (string, error) {
		resp, err := http.Post(srv.URL+"/api/workflow/preview", "application/json", strings.NewReader(body))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var out struct {
			Metadata json.RawMessage `json:"metadata"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			return "", fmt.Errorf("status %d: %v", resp.StatusCode, err)
		}
		return string(out.Metadata), nil
	}
	type sample struct{ name, body, want string }
	var samples []sample
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.Analyze(context.Background(), raw)
		if err != nil {
			continue // not a valid workflow: answered with an error, tested elsewhere
		}
		var compact bytes.Buffer
		enc := json.NewEncoder(&compact)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(a.Metadata); err != nil {
			t.Fatal(err)
		}
		quoted, _ := json.Marshal(string(raw))
		w := strings.TrimSpace(compact.String())
		samples = append(samples,
			sample{filepath.Base(f), `{"workflow_json": ` + string(raw) + `}`, w},
			sample{filepath.Base(f) + " as a string", `{"workflow_json": ` + string(quoted) + `}`, w})
	}
	if len(samples) < 4 {
		t.Fatalf("only %d samples", len(samples))
	}
	distinct := map[string]bool{}
	for _, sm := range samples {
		distinct[sm.want] = true
	}
	if len(distinct) < 2 {
		t.Fatal("the samples all have the same answer; the test would see no mix-up")
	}
	check := func(sm sample) error {
		got, err := metadataOf(sm.body)
		if err != nil {
			return fmt.Errorf("%s: %w", sm.name, err)
		}
		if got != sm.want {
			return fmt.Errorf("%s: answer differs from its own analysis:\n got %.300s\nwant %.300s", sm.name, got, sm.want)
		}
		return nil
	}
	n := len(samples)
	for _, order := range []func(i int) int{
		func(i int) int { return i },
		func(i int) int { return n - 1 - i }, // each workflow now follows another one
		func(i int) int { return (i + n/2) % n },
	} {
		for i := range n {
			if err := check(samples[order(i)]); err != nil {
				t.Fatal(err)
			}
		}
	}
	errs := make(chan error, len(samples))
	for _, sm := range samples {
		go func() { errs <- check(sm) }()
	}
	for range samples {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
