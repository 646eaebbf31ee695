package modelshttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/models"
	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/models/modelshttp"
	"github.com/comfylauncher/launcher/agent/internal/models/sources"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
	"github.com/comfylauncher/launcher/agent/internal/store"
)

type fakeProjects struct {
	mu sync.Mutex
	m  map[string][]string
}

func (f *fakeProjects) ModelsByProject() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m
}

type events struct {
	mu     sync.Mutex
	topics map[string]int
	// retryDelays are the retry_in_seconds of recovery_update events.
	retryDelays []float64
}

func (e *events) Publish(topic, event string, data any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.topics == nil {
		e.topics = map[string]int{}
	}
	e.topics[topic+" "+event]++
	if m, ok := data.(map[string]any); ok && event == "recovery_update" && topic == "ops" {
		if d, ok := m["retry_in_seconds"].(float64); ok {
			e.retryDelays = append(e.retryDelays, d)
		}
	}
}

func (e *events) count(key string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.topics[key]
}

type harness struct {
	svc      *models.Service
	runner   *recovery.Runner
	srv      *httptest.Server
	root     string
	projects *fakeProjects
	events   *events
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ev := &events{}
	runner := recovery.New(db, ev, recovery.Options{})
	reg := sources.Of(&sources.HuggingFace{Endpoint: "http://hf.invalid"}, sources.Direct{})
	root := filepath.Join(dir, "models")
	svc, err := models.New(models.Options{ModelsDir: root, Download: download.Options{
		MaxConnections: 1, StallTimeout: 5 * time.Second,
		FreeSpace: func(string) (uint64, uint64, error) { return 1 << 40, 1 << 41, nil },
	}}, db, runner, ev, reg)
	if err != nil {
		t.Fatal(err)
	}
	pj := &fakeProjects{m: map[string][]string{}}
	svc.SetProjects(pj)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { runner.Stop(context.Background()) })
	r := httprouter.New()
	modelshttp.Routes(r, svc)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &harness{svc: svc, runner: runner, srv: srv, root: root, projects: pj, events: ev}
}

func (h *harness) do(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.srv.URL+path, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (h *harness) download(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	code, out := h.do(t, "POST", "/api/models/download", body)
	if code != http.StatusAccepted {
		t.Fatalf("POST download: %d %v", code, out)
	}
	id, _ := out["operation_id"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := h.runner.Wait(ctx, id); err != nil {
		t.Fatal(err)
	}
	_, view := h.do(t, "GET", "/api/downloads/"+id, nil)
	return view
}

func TestDownloadThroughAPI(t *testing.T) {
	h := newHarness(t)
	fs := faultserver.NewFile(2<<20+77, 9)
	defer fs.Close()
	fs.Inject(faultserver.FileFault{ResetAfter: 1 << 20})
	view := h.download(t, map[string]any{"url": fs.URL() + "?token=secret", "folder": "clip", "filename": "t5/t5xxl.safetensors", "sha256": fs.SHA256(), "project_id": "p1"})
	if view["state"] != "success" || view["path"] != "text_encoders/t5/t5xxl.safetensors" {
		t.Fatalf("download view %v", view)
	}
	if strings.Contains(view["url"].(string), "secret") {
		t.Errorf("the API leaked a URL token: %v", view["url"])
	}
	if h.events.count("project:p1 progress_update") == 0 || h.events.count("download:"+view["id"].(string)+" progress_update") == 0 {
		t.Errorf("no progress_update on the project and download topics: %v", h.events.topics)
	}
	h.projects.mu.Lock()
	h.projects.m["p1"] = []string{"clip/t5/t5xxl.safetensors"}
	h.projects.mu.Unlock()
	_, list := h.do(t, "GET", "/api/models", nil)
	ms := list["models"].([]any)
	if len(ms) != 1 {
		t.Fatalf("models %v", list)
	}
	m := ms[0].(map[string]any)
	if m["type"] != "text_encoders" || m["sha256"] != fs.SHA256() || m["used_by_projects"].([]any)[0] != "p1" {
		t.Errorf("model %v", m)
	}
	// Same request again: the file is there with the right hash, nothing to do.
	code, out := h.do(t, "POST", "/api/models/download", map[string]any{"url": fs.URL(), "folder": "text_encoders", "filename": "t5/t5xxl.safetensors", "sha256": fs.SHA256()})
	if code != http.StatusOK || out["status"] != "exists" {
		t.Errorf("repeat download: %d %v", code, out)
	}
	// Same content under another name: a hard link, zero bytes fetched.
	served := fs.Served()
	view = h.download(t, map[string]any{"url": fs.URL(), "folder": "checkpoints", "filename": "copy.safetensors", "sha256": fs.SHA256()})
	if view["state"] != "success" || view["linked_from"] != "text_encoders/t5/t5xxl.safetensors" || fs.Served() != served {
		t.Errorf("dedupe on download: %v, served %d more bytes", view, fs.Served()-served)
	}
	code, all := h.do(t, "GET", "/api/downloads", nil)
	if code != 200 || all["total_count"].(float64) != 2 || all["success"] != true {
		t.Errorf("GET /api/downloads: %d %v", code, all)
	}
	first := all["downloads"].([]any)[1].(map[string]any)
	if first["status"] != "success" || first["bytes_downloaded"].(float64) != float64(2<<20+77) || first["dest_path"] != "text_encoders/t5/t5xxl.safetensors" {
		t.Errorf("download entry %v", first)
	}
	if code, st := h.do(t, "GET", "/api/downloads/settings", nil); code != 200 || st["settings"].(map[string]any)["verify_checksums"] != true {
		t.Errorf("settings: %d %v", code, st)
	}
	if code, hist := h.do(t, "GET", "/api/downloads/history", nil); code != 200 || hist["total_count"].(float64) != 2 {
		t.Errorf("history: %d %v", code, hist)
	}
	if code, _ := h.do(t, "GET", "/api/downloads/op_0000000000000001", nil); code != 404 {
		t.Errorf("unknown download: %d", code)
	}
	a, _ := os.Stat(filepath.Join(h.root, "text_encoders/t5/t5xxl.safetensors"))
	b, _ := os.Stat(filepath.Join(h.root, "checkpoints/copy.safetensors"))
	if !os.SameFile(a, b) {
		t.Error("dedupe did not hard-link")
	}
}

func TestDownloadValidation(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name string
		body map[string]any
	}{
		{"no url", map[string]any{"folder": "checkpoints"}},
		{"bad scheme", map[string]any{"url": "file:///etc/passwd", "folder": "checkpoints"}},
		{"unknown folder", map[string]any{"url": "http://x/a.safetensors", "folder": "nope"}},
		{"bad sha", map[string]any{"url": "http://x/a.safetensors", "folder": "loras", "sha256": "abc"}},
		{"traversal filename", map[string]any{"url": "http://x/a.safetensors", "folder": "loras", "filename": "../../etc/x.safetensors"}},
		{"not a model", map[string]any{"url": "http://x/a.exe", "folder": "loras"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := h.do(t, "POST", "/api/models/download", tc.body)
			if code != http.StatusBadRequest || len(out["suggestions"].([]any)) == 0 {
				t.Errorf("got %d %v, want 400 with suggestions", code, out)
			}
		})
	}
}

func TestDownloadFailureLeavesNoFile(t *testing.T) {
	h := newHarness(t)
	fs := faultserver.NewFile(1<<20, 10)
	defer fs.Close()
	fs.Inject(faultserver.FileFault{HTML: true}, faultserver.FileFault{HTML: true})
	view := h.download(t, map[string]any{"url": fs.URL(), "folder": "loras"})
	if view["state"] == "success" || view["error_class"] != "integrity" {
		t.Fatalf("view %v", view)
	}
	if _, err := os.Stat(filepath.Join(h.root, "loras/file.safetensors")); err == nil {
		t.Error("an HTML page reached the store")
	}
}

func TestPauseResume(t *testing.T) {
	h := newHarness(t)
	fs := faultserver.NewFile(8<<20, 11)
	defer fs.Close()
	fs.BytesPerSecond.Store(4 << 20)
	code, out := h.do(t, "POST", "/api/models/download", map[string]any{"url": fs.URL(), "folder": "vae", "sha256": fs.SHA256()})
	if code != http.StatusAccepted {
		t.Fatal(code, out)
	}
	id := out["operation_id"].(string)
	for fs.Served() < 1<<20 {
		time.Sleep(10 * time.Millisecond)
	}
	code, view := h.do(t, "POST", "/api/downloads/"+id+"/pause", nil)
	if code != 200 || view["paused"] != true {
		t.Fatalf("pause: %d %v", code, view)
	}
	fs.BytesPerSecond.Store(0)
	if code, view = h.do(t, "POST", "/api/downloads/"+id+"/resume", nil); code != 200 {
		t.Fatalf("resume: %d %v", code, view)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	op, _ := h.runner.Wait(ctx, id)
	if op.State != recovery.StateSuccess {
		t.Fatalf("state %s: %s", op.State, op.Error)
	}
	if starts := fs.RangeStarts(); len(starts) < 2 || starts[len(starts)-1] == 0 {
		t.Errorf("resume did not continue from the partial: %v", starts)
	}
	if code, _ := h.do(t, "POST", "/api/downloads/"+id+"/explode", nil); code != 404 {
		t.Errorf("unknown action: %d", code)
	}
}

func TestDeleteModel(t *testing.T) {
	h := newHarness(t)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret.safetensors"), []byte("x"), 0o644)
	write := func(rel string) {
		p := filepath.Join(h.root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("model"), 0o644)
	}
	write("checkpoints/a.safetensors")
	write("loras/used.safetensors")
	os.Symlink(filepath.Join(outside, "secret.safetensors"), filepath.Join(h.root, "checkpoints/evil.safetensors"))
	os.Symlink(outside, filepath.Join(h.root, "loras/outdir"))
	h.projects.m["p2"] = []string{"loras/used.safetensors"}

	cases := []struct {
		name, path string
		want       int
	}{
		{"dot-dot", "/api/models/checkpoints/../../../etc/passwd", 400},
		{"encoded dot-dot", "/api/models/checkpoints/%2e%2e/%2e%2e/x.safetensors", 400},
		{"absolute", "/api/models//etc/passwd", 400},
		{"symlink to outside file", "/api/models/checkpoints/evil.safetensors", 400},
		{"through symlinked dir", "/api/models/loras/outdir/secret.safetensors", 400},
		{"partial dir", "/api/models/.partial/x.part", 400},
		{"directory", "/api/models/checkpoints", 400},
		{"absent", "/api/models/checkpoints/missing.safetensors", 404},
		{"in use", "/api/models/loras/used.safetensors", 409},
		{"in use forced", "/api/models/loras/used.safetensors?force=true", 200},
		{"ok", "/api/models/checkpoints/a.safetensors", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("DELETE", h.srv.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tc.want, body)
			}
			if tc.want == 409 && (body["error"] != "Model is in use by projects" || body["projects"].([]any)[0] != "p2") {
				t.Errorf("409 body %v", body)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(outside, "secret.safetensors")); err != nil {
		t.Error("a file outside the store was deleted")
	}
	if _, err := os.Stat(filepath.Join(h.root, "checkpoints/a.safetensors")); err == nil {
		t.Error("model not deleted")
	}
}

func TestUsageAndDedupe(t *testing.T) {
	h := newHarness(t)
	data := bytes.Repeat([]byte("weights!"), 1<<16)
	for _, rel := range []string{"checkpoints/a.safetensors", "checkpoints/sub/b.safetensors", "unet/c.gguf", "misc/d.bin"} {
		p := filepath.Join(h.root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, data, 0o644)
	}
	h.projects.m["p1"] = []string{"checkpoints/a.safetensors", "diffusion_models/c.gguf"}
	// Hash everything (dedupe hashes synchronously) in dry-run mode.
	code, rep := h.do(t, "POST", "/api/models/dedupe", map[string]any{"dry_run": true})
	if code != 200 || rep["files_linked"].(float64) != 3 {
		t.Fatalf("dry run: %d %v", code, rep)
	}
	_, u := h.do(t, "GET", "/api/storage/usage", nil)
	byType := u["by_type"].(map[string]any)
	for _, k := range []string{"checkpoints", "text_encoders", "diffusion_models", "loras", "ipadapter", "other"} {
		if _, ok := byType[k]; !ok {
			t.Errorf("by_type lacks %s", k)
		}
	}
	size := float64(len(data))
	if byType["checkpoints"].(map[string]any)["size"].(float64) != 2*size || byType["diffusion_models"].(map[string]any)["size"].(float64) != size || byType["other"].(map[string]any)["size"].(float64) != size {
		t.Errorf("by_type %v", byType)
	}
	if p1 := u["by_project"].(map[string]any)["p1"].(map[string]any); p1["size"].(float64) != 2*size || p1["human_readable"] != "1.00 MB" {
		t.Errorf("by_project %v", u["by_project"])
	}
	if r := u["reclaimable"].(map[string]any); r["bytes"].(float64) != 3*size {
		t.Errorf("reclaimable %v, want %v", r, 3*size)
	}
	if d := u["disk"].(map[string]any); d["total"].(float64) <= 0 || !strings.HasSuffix(d["free_human_readable"].(string), "B") {
		t.Errorf("disk %v", d)
	}
	if code, rep = h.do(t, "POST", "/api/models/dedupe", nil); code != 200 || rep["bytes_reclaimed"].(float64) != 3*size {
		t.Fatalf("dedupe: %d %v", code, rep)
	}
	var st syscall.Stat_t
	syscall.Stat(filepath.Join(h.root, "misc/d.bin"), &st)
	if st.Nlink != 4 {
		t.Errorf("nlink %d, want 4", st.Nlink)
	}
	_, u = h.do(t, "GET", "/api/storage/usage", nil)
	if r := u["reclaimable"].(map[string]any); r["bytes"].(float64) != 0 || u["total_size"].(float64) != size {
		t.Errorf("after dedupe: reclaimable %v total %v", r, u["total_size"])
	}
}

func TestCheckUpdates(t *testing.T) {
	h := newHarness(t)
	fs := faultserver.NewFile(1<<20, 12)
	defer fs.Close()
	h.download(t, map[string]any{"url": fs.URL(), "folder": "loras", "filename": "a.safetensors"})
	code, out := h.do(t, "GET", "/api/models/check-updates", nil)
	if code != 200 || len(out["updates_available"].([]any)) != 0 || out["unchanged"].(float64) != 1 {
		t.Fatalf("before change: %d %v", code, out)
	}
	fs.Inject(faultserver.FileFault{NewVersion: true})
	fs.Requests()
	_, out = h.do(t, "GET", "/api/models/check-updates", nil)
	ups := out["updates_available"].([]any)
	if len(ups) != 1 || !strings.Contains(ups[0].(map[string]any)["reason"].(string), "ETag changed") {
		t.Errorf("after change: %v", out)
	}
}

func TestExtraModelPathsYAML(t *testing.T) {
	h := newHarness(t)
	y := string(h.svc.ExtraModelPathsYAML())
	for _, want := range []string{"base_path: " + h.root, "  text_encoders: |\n    text_encoders\n    clip\n", "  diffusion_models: |\n    diffusion_models\n    unet\n",
		"  ipadapter: ipadapter\n", "  ultralytics_bbox: ultralytics/bbox\n", "  checkpoints: checkpoints\n"} {
		if !strings.Contains(y, want) {
			t.Errorf("yaml lacks %q:\n%s", want, y)
		}
	}
	p, size, ok := h.svc.Lookup("clip", "x.safetensors")
	if ok {
		t.Errorf("lookup of a missing file: %s %d", p, size)
	}
	os.MkdirAll(filepath.Join(h.root, "clip"), 0o755)
	os.WriteFile(filepath.Join(h.root, "clip", "x.safetensors"), []byte("abc"), 0o644)
	if _, size, ok := h.svc.Lookup("text_encoders", "x.safetensors"); !ok || size != 3 {
		t.Errorf("lookup through the legacy clip dir failed")
	}
}

func TestSymlinkedFolderIsIndexed(t *testing.T) {
	h := newHarness(t)
	nas := t.TempDir()
	os.MkdirAll(filepath.Join(nas, "styles"), 0o755)
	os.WriteFile(filepath.Join(nas, "styles", "a.safetensors"), []byte("lora"), 0o644)
	os.MkdirAll(filepath.Join(h.root, "loras"), 0o755)
	os.Symlink(nas, filepath.Join(h.root, "loras", "nas"))
	os.Symlink(filepath.Join(h.root, "loras"), filepath.Join(nas, "loop")) // a cycle must not hang the scan
	_, list := h.do(t, "GET", "/api/models", nil)
	var paths []string
	for _, m := range list["models"].([]any) {
		paths = append(paths, m.(map[string]any)["path"].(string))
	}
	if len(paths) != 1 || paths[0] != "loras/nas/styles/a.safetensors" {
		t.Errorf("paths %v", paths)
	}
}

func TestCleanPartials(t *testing.T) {
	h := newHarness(t)
	part := filepath.Join(h.root, ".partial")
	os.WriteFile(filepath.Join(part, "op_00000000000000ff.part"), make([]byte, 100), 0o644)
	os.WriteFile(filepath.Join(part, "link-123"), nil, 0o644)
	freed, err := h.svc.Downloads.CleanPartials(24 * time.Hour)
	if err != nil || freed != 100 {
		t.Fatalf("freed %d, %v", freed, err)
	}
	if _, err := os.Stat(filepath.Join(part, "link-123")); err != nil {
		t.Error("a fresh temporary file was removed")
	}
}

// TestCheckUpdatesLinkedETag: a Hub-style origin redirects to a CDN and names the LFS sha256 in
// X-Linked-Etag; when that changes upstream, check-updates reports it.
func TestCheckUpdatesLinkedETag(t *testing.T) {
	h := newHarness(t)
	cdn := faultserver.NewFile(1<<20, 13)
	defer cdn.Close()
	var mu sync.Mutex
	linked := `"` + cdn.SHA256() + `"`
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		w.Header().Set("X-Linked-Etag", linked)
		mu.Unlock()
		http.Redirect(w, r, cdn.URL(), http.StatusFound)
	}))
	defer origin.Close()
	view := h.download(t, map[string]any{"url": origin.URL + "/org/repo/resolve/main/m.safetensors", "folder": "checkpoints", "sha256": cdn.SHA256()})
	if view["state"] != "success" {
		t.Fatal(view)
	}
	_, out := h.do(t, "GET", "/api/models/check-updates", nil)
	if len(out["updates_available"].([]any)) != 0 {
		t.Fatalf("unchanged model reported: %v", out)
	}
	mu.Lock()
	linked = `"` + strings.Repeat("ab", 32) + `"`
	mu.Unlock()
	_, out = h.do(t, "GET", "/api/models/check-updates", nil)
	ups := out["updates_available"].([]any)
	if len(ups) != 1 || !strings.Contains(ups[0].(map[string]any)["reason"].(string), "X-Linked-Etag") {
		t.Errorf("after upstream change: %v", out)
	}
}

// TestRetryAfterThroughRunner: a 429 with Retry-After makes the runner wait at least that long
// before the next attempt, and the download then completes.
func TestRetryAfterThroughRunner(t *testing.T) {
	h := newHarness(t)
	fs := faultserver.NewFile(1<<20, 14)
	defer fs.Close()
	fs.Inject(faultserver.FileFault{Status: 429, RetryAfter: "1"})
	view := h.download(t, map[string]any{"url": fs.URL(), "folder": "vae", "sha256": fs.SHA256()})
	if view["state"] != "success" {
		t.Fatalf("view %v", view)
	}
	h.events.mu.Lock()
	defer h.events.mu.Unlock()
	if len(h.events.retryDelays) != 1 || h.events.retryDelays[0] < 1 {
		t.Errorf("retry delays %v, want one of at least 1s (Retry-After)", h.events.retryDelays)
	}
}

// TestDownloadStepConfinesPath: a download operation whose recorded path leads through a
// symlinked folder (recorded before this check existed, or named by a source) fails with a
// permission error and writes nothing outside the store.
func TestDownloadStepConfinesPath(t *testing.T) {
	h := newHarness(t)
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(h.root, "checkpoints"), 0o755)
	os.Symlink(outside, filepath.Join(h.root, "checkpoints", "linkdir"))
	fs := faultserver.NewFile(4096, 3)
	defer fs.Close()
	id, err := h.runner.Submit(context.Background(), models.FunctionDownload, map[string]any{
		"url": fs.URL(), "folder": "checkpoints", "filename": "linkdir/x.safetensors", "path": "checkpoints/linkdir/x.safetensors"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	op, err := h.runner.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if op.State == recovery.StateSuccess || op.ErrorClass != recovery.ClassPermission || !strings.Contains(op.Error, "checkpoints/linkdir is a symlink") {
		t.Fatalf("operation %s (%s): %s", op.State, op.ErrorClass, op.Error)
	}
	if des, _ := os.ReadDir(outside); len(des) != 0 {
		t.Fatalf("written outside the store: %v", des)
	}
}

// TestGetModel: GET /api/models/{path} answers one model as the list shows it, 404 for a
// path with nothing there and 400 for a path the store refuses.
func TestGetModel(t *testing.T) {
	h := newHarness(t)
	p := filepath.Join(h.root, "loras", "sdxl", "style.safetensors")
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("weights"), 0o644)
	h.projects.m["p1"] = []string{"loras/sdxl/style.safetensors"}
	code, m := h.do(t, "GET", "/api/models/loras/sdxl/style.safetensors", nil)
	if code != 200 || m["path"] != "loras/sdxl/style.safetensors" || m["type"] != "loras" || m["size"] != float64(7) ||
		len(m["used_by_projects"].([]any)) != 1 {
		t.Fatalf("GET model: %d %v", code, m)
	}
	if code, m = h.do(t, "GET", "/api/models/loras/absent.safetensors", nil); code != 404 || m["type"] != "ModelNotFoundError" {
		t.Errorf("absent model: %d %v", code, m)
	}
	if code, m = h.do(t, "GET", "/api/models/loras/../../etc/passwd", nil); code != 400 || m["type"] != "InvalidPathError" {
		t.Errorf("traversal: %d %v", code, m)
	}
}

// TestCancelDownload: cancel answers once the download has ended, as cancelled, and its
// partial file is gone.
func TestCancelDownload(t *testing.T) {
	h := newHarness(t)
	fs := faultserver.NewFile(8<<20, 12)
	defer fs.Close()
	fs.BytesPerSecond.Store(1 << 20)
	code, out := h.do(t, "POST", "/api/models/download", map[string]any{"url": fs.URL(), "folder": "vae"})
	if code != http.StatusAccepted {
		t.Fatal(code, out)
	}
	id := out["operation_id"].(string)
	for fs.Served() < 1<<18 {
		time.Sleep(10 * time.Millisecond)
	}
	code, view := h.do(t, "POST", "/api/downloads/"+id+"/cancel", nil)
	if code != 200 || view["state"] != string(recovery.StateCancelled) || view["can_pause"] != false {
		t.Fatalf("cancel: %d %v", code, view)
	}
	if _, err := os.Stat(filepath.Join(h.root, ".partial", id+".part")); !os.IsNotExist(err) {
		t.Errorf("the partial of a cancelled download is still there: %v", err)
	}
	if code, _ := h.do(t, "POST", "/api/downloads/op_missing/cancel", nil); code != 404 {
		t.Errorf("cancel of an unknown download: %d", code)
	}
}

// TestDownloadsWithoutRunner: a store with no recovery runner still lists and serves its
// models and download settings; the download routes answer 503 saying why.
func TestDownloadsWithoutRunner(t *testing.T) {
	svc, err := models.New(models.Options{ModelsDir: t.TempDir()}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := httprouter.New()
	modelshttp.Routes(r, svc)
	srv := httptest.NewServer(r)
	defer srv.Close()
	h := &harness{srv: srv}
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/api/models", 200},
		{"GET", "/api/downloads/settings", 200},
		{"GET", "/api/downloads", 503},
		{"GET", "/api/downloads/history", 503},
		{"GET", "/api/downloads/op_1", 503},
		{"POST", "/api/downloads/op_1/pause", 503},
		{"POST", "/api/models/download", 503},
	} {
		var body any
		if c.method == "POST" {
			body = map[string]any{"url": "http://127.0.0.1:1/a.safetensors", "folder": "vae"}
		}
		code, out := h.do(t, c.method, c.path, body)
		if code != c.want || (c.want == 503 && !strings.Contains(out["error"].(string), "recovery runner is not wired")) {
			t.Errorf("%s %s: %d %v, want %d", c.method, c.path, code, out, c.want)
		}
	}
}
