package extensione2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/comfylauncher/launcher/agent/internal/app"
	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/config/configtest"
	"github.com/comfylauncher/launcher/agent/internal/extension/wasmtest"
)

var modules map[string]string

func TestMain(m *testing.M) {
	wasmtest.Main(m, func(dir string, mods map[string]string) {
		modules = mods
		notWasm := filepath.Join(dir, "notwasm.wasm")
		if err := os.WriteFile(notWasm, []byte("#!/bin/sh\necho not a module\n"), 0o755); err != nil {
			panic(err)
		}
		modules["notwasm"] = notWasm
	})
}

func sum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// upstream is the loopback "mirror" and file server the agent downloads from.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	hits []string
}

const modelBytes = "safetensors-bytes-of-a-mirrored-model"

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.hits = append(u.hits, r.URL.Path)
		u.mu.Unlock()
		switch {
		case r.URL.Path == "/mirror/huggingface/org/repo/resolve/main/a.safetensors":
			w.Header().Set("Content-Length", fmt.Sprint(len(modelBytes)))
			io.WriteString(w, modelBytes)
		case strings.HasPrefix(r.URL.Path, "/mirror/huggingface/org/gated/"):
			http.Error(w, "Access to model org/gated is restricted. You must have access to it and be authenticated to access it.", http.StatusForbidden)
		case r.URL.Path == "/manager/model-list.json":
			io.WriteString(w, `{"models": []}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) hit(path string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, h := range u.hits {
		if h == path {
			return true
		}
	}
	return false
}

// agentConfig is a launcher.toml with the shipped extensions, the hostile guest and broken ones.
func agentConfig(t *testing.T, dataDir, mirror string) *config.Config {
	t.Helper()
	toml := fmt.Sprintf(`
[paths]
data_dir = %[1]q
[gpu]
provider = "none"
%[18]s
[recovery]
strategies = ["wasm.hostile", "wasm.classify", "policy"]

[[extensions]]
name = "mirror"
path = %[2]q
sha256 = %[3]q
config = { mirror = %[4]q, name_template = "{mirror}/by-name/{folder}/{name}" }

[[extensions]]
name = "housenodes"
path = %[5]q
sha256 = %[6]q
[[extensions.config.loaders]]
node_type = "AcmeCheckpointLoader"
input = "ckpt_name"
widget = 0
folder = "checkpoints"
pack = "https://git.acme.example/comfy/acme-nodes"

[[extensions]]
name = "classify"
path = %[7]q
sha256 = %[8]q

[[extensions]]
name = "hostile"
path = %[9]q
sha256 = %[10]q
limits = { timeout = "2s", memory_mb = 32, max_output_bytes = 1048576 }

[[extensions]]
name = "badabi"
path = %[11]q
sha256 = %[12]q

[[extensions]]
name = "noexport"
path = %[13]q
sha256 = %[14]q

[[extensions]]
name = "notwasm"
path = %[15]q
sha256 = %[16]q

[[extensions]]
name = "tampered"
path = %[2]q
sha256 = "%[17]s"

[[extensions]]
name = "unsigned"
path = %[2]q

[[extensions]]
name = "off"
path = %[2]q
sha256 = %[3]q
enabled = false
`, dataDir, modules["mirror"], sum(t, modules["mirror"]), mirror,
		modules["housenodes"], sum(t, modules["housenodes"]), modules["classify"], sum(t, modules["classify"]),
		modules["hostile"], sum(t, modules["hostile"]), modules["badabi"], sum(t, modules["badabi"]),
		modules["noexport"], sum(t, modules["noexport"]), modules["notwasm"], sum(t, modules["notwasm"]), strings.Repeat("ab", 32),
		configtest.TOML(fmt.Sprintf("manager.model_list_url = %q", strings.TrimSuffix(mirror, "/mirror")+"/manager/model-list.json")))
	path := filepath.Join(t.TempDir(), "launcher.toml")
	if err := os.WriteFile(path, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	configtest.Require(t, cfg)
	return cfg
}

type agent struct {
	t   *testing.T
	app *app.App
	srv *httptest.Server
}

func startAgent(t *testing.T, cfg *config.Config) *agent {
	t.Helper()
	a, err := app.New(cfg, slog.New(slog.DiscardHandler), "test", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ag := &agent{t: t, app: a, srv: httptest.NewServer(a.Handler())}
	t.Cleanup(ag.stop)
	return ag
}

func (ag *agent) stop() {
	if ag.srv == nil {
		return
	}
	ag.srv.Close()
	ag.app.Close(context.Background())
	ag.srv = nil
}

func (ag *agent) call(method, path string, body any, out any) int {
	ag.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, ag.srv.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ag.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			ag.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode
}

type extStatus struct {
	ID           string   `json:"id"`
	State        string   `json:"state"`
	Transport    string   `json:"transport"`
	Capabilities []string `json:"capabilities"`
	LastError    string   `json:"last_error"`
	Stats        struct {
		Calls, Errors, Timeouts int64
	} `json:"stats"`
}

func (ag *agent) extension(id string) extStatus {
	ag.t.Helper()
	var st extStatus
	if code := ag.call("GET", "/api/extensions/"+id, nil, &st); code != 200 {
		ag.t.Fatalf("GET /api/extensions/%s: %d", id, code)
	}
	return st
}

type operation struct {
	ID          string   `json:"id"`
	State       string   `json:"state"`
	ErrorClass  string   `json:"error_class"`
	Error       string   `json:"error"`
	Suggestions []string `json:"suggestions"`
}

// download submits a download and waits until its operation ends.
func (ag *agent) download(req map[string]any) operation {
	ag.t.Helper()
	var sub struct {
		OperationID string `json:"operation_id"`
	}
	if code := ag.call("POST", "/api/models/download", req, &sub); code >= 300 || sub.OperationID == "" {
		ag.t.Fatalf("download %v: %d %+v", req, code, sub)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var body struct {
			Operation operation `json:"operation"`
		}
		ag.call("GET", "/api/recovery/operations/"+sub.OperationID, nil, &body)
		op := body.Operation
		switch op.State {
		case "success", "failed", "exhausted", "cancelled":
			return op
		}
		if time.Now().After(deadline) {
			ag.t.Fatalf("operation %s still %s", sub.OperationID, op.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (ag *agent) healthy() {
	ag.t.Helper()
	var h struct {
		Status string `json:"status"`
	}
	if code := ag.call("GET", "/api/health", nil, &h); code != 200 || h.Status == "" {
		ag.t.Fatalf("health: %d %+v", code, h)
	}
}

func TestExtensionsThroughTheAPI(t *testing.T) {
	up := newUpstream(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := agentConfig(t, dataDir, up.URL+"/mirror")
	ag := startAgent(t, cfg)
	events := ag.events(t)

	t.Run("registry", func(t *testing.T) {
		ag.t = t
		var list struct {
			Extensions []extStatus         `json:"extensions"`
			Order      map[string][]string `json:"order"`
			Warnings   []string            `json:"warnings"`
		}
		ag.call("GET", "/api/extensions", nil, &list)
		got := map[string]extStatus{}
		for _, e := range list.Extensions {
			got[e.ID] = e
		}
		want := map[string]string{
			"wasm.mirror": "loaded", "wasm.housenodes": "loaded", "wasm.classify": "loaded", "wasm.hostile": "loaded",
			"wasm.badabi": "failed", "wasm.noexport": "failed", "wasm.notwasm": "failed", "wasm.tampered": "failed",
			"wasm.unsigned": "failed", "wasm.off": "disabled",
			"builtin.huggingface": "loaded", "builtin.direct": "loaded", "builtin.policy": "loaded", "builtin.loaders": "loaded",
		}
		for id, state := range want {
			if got[id].State != state {
				t.Errorf("%s: state %q (%s), want %s", id, got[id].State, got[id].LastError, state)
			}
		}
		for id, text := range map[string]string{
			"wasm.badabi":   "speaks cmfy ABI v2",
			"wasm.noexport": "does not export cmfy_model_resolve",
			"wasm.notwasm":  "is not a WebAssembly module",
			"wasm.tampered": "expects " + strings.Repeat("ab", 32),
			"wasm.unsigned": "sha256 is not set",
		} {
			if !strings.Contains(got[id].LastError, text) {
				t.Errorf("%s: last_error %q, want it to say %q", id, got[id].LastError, text)
			}
		}
		if !strings.Contains(got["wasm.tampered"].LastError, sum(t, modules["mirror"])) {
			t.Errorf("the mismatch must name the file's real hash too: %s", got["wasm.tampered"].LastError)
		}
		if o := strings.Join(list.Order["model_source"], ","); o != "wasm.mirror,wasm.hostile,builtin.huggingface,builtin.civitai,builtin.comfyui-manager,builtin.direct" {
			t.Errorf("source order %v: extensions first, then the built-ins", o)
		}
		if o := strings.Join(list.Order["recovery_strategy"], ","); o != "wasm.hostile,wasm.classify,builtin.policy" {
			t.Errorf("strategy order %s", o)
		}
		var h struct {
			Status     string `json:"status"`
			Components map[string]struct {
				OK     bool `json:"ok"`
				Detail struct {
					Warnings []string `json:"warnings"`
				} `json:"detail"`
			} `json:"components"`
		}
		ag.call("GET", "/api/health", nil, &h)
		ext := h.Components["extensions"]
		if h.Status != "degraded" || ext.OK || !strings.Contains(strings.Join(ext.Detail.Warnings, "\n"), "wasm.badabi failed") {
			t.Errorf("health = %s, extensions %+v", h.Status, ext)
		}
		if code := ag.call("GET", "/api/extensions/wasm.nope", nil, nil); code != 404 {
			t.Errorf("unknown id: %d", code)
		}
	})

	t.Run("mirror source downloads from the mirror and the agent verifies", func(t *testing.T) {
		ag.t = t
		s := sha256.Sum256([]byte(modelBytes))
		op := ag.download(map[string]any{"source": "hf:org/repo/a.safetensors", "folder": "checkpoints", "sha256": hex.EncodeToString(s[:])})
		if op.State != "success" {
			t.Fatalf("download: %+v", op)
		}
		if !up.hit("/mirror/huggingface/org/repo/resolve/main/a.safetensors") {
			t.Error("the file did not come from the mirror")
		}
		b, err := os.ReadFile(filepath.Join(cfg.Paths.ModelsDir, "checkpoints", "a.safetensors"))
		if err != nil || string(b) != modelBytes {
			t.Errorf("stored file: %q %v", b, err)
		}
		if st := ag.extension("wasm.mirror"); st.Stats.Calls == 0 {
			t.Errorf("mirror stats: %+v", st.Stats)
		}
	})

	t.Run("classify strategy explains a gated repository", func(t *testing.T) {
		ag.t = t
		op := ag.download(map[string]any{"source": "hf:org/gated/b.safetensors", "folder": "checkpoints"})
		if op.State != "failed" || op.ErrorClass != "auth" || len(op.Suggestions) == 0 || !strings.Contains(op.Suggestions[0], "gated") {
			t.Fatalf("gated download: %+v", op)
		}
		if st := ag.extension("wasm.classify"); st.Stats.Calls == 0 {
			t.Errorf("classify was not asked: %+v", st.Stats)
		}
	})

	t.Run("housenodes parser in preview and validate, mirror suggestions", func(t *testing.T) {
		ag.t = t
		wf := map[string]any{
			"1": map[string]any{"class_type": "AcmeCheckpointLoader", "inputs": map[string]any{"ckpt_name": "acme-v3.safetensors"}},
			"2": map[string]any{"class_type": "CheckpointLoaderSimple", "inputs": map[string]any{"ckpt_name": "hostile-panic.safetensors"}},
		}
		var prev struct {
			Metadata struct {
				RequiredModels []struct{ Filename, Folder, Source string } `json:"required_models"`
				Packs          []struct {
					Repo string `json:"repo"`
				} `json:"required_custom_nodes"`
			} `json:"metadata"`
		}
		if code := ag.call("POST", "/api/workflow/preview", map[string]any{"workflow_json": wf}, &prev); code != 200 {
			t.Fatalf("preview: %d", code)
		}
		found := false
		for _, m := range prev.Metadata.RequiredModels {
			found = found || (m.Filename == "acme-v3.safetensors" && m.Folder == "checkpoints" && m.Source == "wasm.housenodes")
		}
		if !found {
			t.Errorf("preview models = %+v", prev.Metadata.RequiredModels)
		}
		if len(prev.Metadata.Packs) == 0 || prev.Metadata.Packs[0].Repo != "https://git.acme.example/comfy/acme-nodes" {
			t.Errorf("packs = %+v", prev.Metadata.Packs)
		}
		var val struct {
			Missing []struct {
				Filename    string `json:"filename"`
				Suggestions []struct {
					Source, URL string
				} `json:"suggestions"`
				SourceErrors []struct{ Extension, Error string } `json:"source_errors"`
			} `json:"missing_models"`
		}
		if code := ag.call("POST", "/api/workflow/validate", map[string]any{"workflow_json": wf}, &val); code != 200 {
			t.Fatalf("validate: %d", code)
		}
		for _, m := range val.Missing {
			switch m.Filename {
			case "acme-v3.safetensors":
				if len(m.Suggestions) == 0 || m.Suggestions[0].Source != "wasm.mirror" || m.Suggestions[0].URL != up.URL+"/mirror/by-name/checkpoints/acme-v3.safetensors" {
					t.Errorf("acme suggestions = %+v", m.Suggestions)
				}
			case "hostile-panic.safetensors":
				if len(m.SourceErrors) != 1 || m.SourceErrors[0].Extension != "wasm.hostile" || !strings.Contains(m.SourceErrors[0].Error, "panic") {
					t.Errorf("a failing source must be named with its error: %+v", m.SourceErrors)
				}
				if len(m.Suggestions) == 0 {
					t.Error("the other sources' suggestions must survive a failing one")
				}
			}
		}
		if len(val.Missing) != 2 {
			t.Errorf("missing = %+v", val.Missing)
		}
		// Import runs the same chain: the house model is missing, with the mirror's suggestion.
		var imp struct {
			Error   string `json:"error"`
			Missing []struct {
				Filename    string                    `json:"filename"`
				Suggestions []struct{ Source string } `json:"suggestions"`
			} `json:"missing_models"`
		}
		code := ag.call("POST", "/api/import_project", map[string]any{"name": "acme", "import_json": wf}, &imp)
		found = false
		for _, m := range imp.Missing {
			found = found || (m.Filename == "acme-v3.safetensors" && len(m.Suggestions) > 0 && m.Suggestions[0].Source == "wasm.mirror")
		}
		if code < 400 || imp.Error != "MISSING_MODELS" || !found {
			t.Errorf("import: %d %+v", code, imp)
		}
	})

	t.Run("hostile strategy in a running agent", func(t *testing.T) {
		ag.t = t
		for _, c := range []struct{ kw, err string }{
			{"loop", "killed after"},
			{"oom", "out of memory"},
			{"panic", "panic"},
			{"big", "over max_output_bytes"},
			{"exit", "exited with code 3"},
		} {
			before := ag.extension("wasm.hostile").Stats
			// No source understands the reference, so the failure's message names it.
			op := ag.download(map[string]any{"source": "hostile-" + c.kw, "filename": "x.safetensors", "folder": "checkpoints"})
			if op.State != "failed" || op.ErrorClass != "not_found" {
				t.Errorf("%s: the next strategy must decide: %+v", c.kw, op)
			}
			st := ag.extension("wasm.hostile")
			if st.State != "loaded" || st.Stats.Errors <= before.Errors || !strings.Contains(st.LastError, c.err) {
				t.Errorf("%s: hostile %+v, want an error saying %q", c.kw, st, c.err)
			}
			if c.kw == "loop" {
				if st.Stats.Timeouts <= before.Timeouts {
					t.Errorf("loop: timeouts %d", st.Stats.Timeouts)
				}
				// Failures are published to event clients (the first one may be the source's
				// panic during validate: events are throttled per extension).
				ev := events.wait(t, "wasm.hostile")
				if ev.State != "loaded" || ev.LastError == "" {
					t.Errorf("extension_update = %+v", ev)
				}
			}
			ag.healthy()
		}
		before := ag.extension("wasm.hostile").Stats
		op := ag.download(map[string]any{"source": "plain-reference", "filename": "y.safetensors", "folder": "checkpoints"})
		after := ag.extension("wasm.hostile").Stats
		if op.State != "failed" || after.Calls <= before.Calls || after.Errors != before.Errors {
			t.Errorf("the next call must work: %+v, stats %+v -> %+v", op, before, after)
		}
	})

	t.Run("restart loads from the compilation cache", func(t *testing.T) {
		ag.stop()
		cache := filepath.Join(dataDir, "wasm-cache")
		first := files(t, cache)
		if len(first) == 0 {
			t.Fatal("no compilation cache under data_dir/wasm-cache")
		}
		ag2 := startAgent(t, agentConfig(t, dataDir, up.URL+"/mirror"))
		if st := ag2.extension("wasm.mirror"); st.State != "loaded" {
			t.Fatalf("after restart: %+v", st)
		}
		if second := files(t, cache); fmt.Sprint(second) != fmt.Sprint(first) {
			t.Errorf("the restart compiled again:\n%v\n%v", first, second)
		}
	})
}

// eventStream is a /ws client collecting extension_update events.
type eventStream struct{ ch chan extStatus }

func (ag *agent) events(t *testing.T) *eventStream {
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ag.srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatalf("dial /ws: %v", err)
	}
	resp.Body.Close()
	t.Cleanup(func() { conn.Close() })
	es := &eventStream{ch: make(chan extStatus, 64)}
	go func() {
		for {
			var ev struct {
				Event string    `json:"event"`
				Data  extStatus `json:"data"`
			}
			if err := conn.ReadJSON(&ev); err != nil {
				close(es.ch)
				return
			}
			if ev.Event == "extension_update" {
				es.ch <- ev.Data
			}
		}
	}()
	return es
}

func (es *eventStream) wait(t *testing.T, id string) extStatus {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case ev, ok := <-es.ch:
			if !ok {
				t.Fatal("event stream closed")
			}
			if ev.ID == id {
				return ev
			}
		case <-timeout:
			t.Fatalf("no extension_update for %s", id)
		}
	}
}

func files(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			out[p] = fmt.Sprint(fi.Size(), fi.ModTime().UnixNano())
		}
		return nil
	})
	return out
}
