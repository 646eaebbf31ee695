package sources_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/config/configtest"
	"github.com/comfylauncher/launcher/agent/internal/managerdata"
	"github.com/comfylauncher/launcher/agent/internal/models/sources"
	"github.com/comfylauncher/launcher/sdk/extension"
)

const sha = "3b5d7c9e1f2a4b6c8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e"

func fakeHF(t *testing.T) (*httptest.Server, *[]string) {
	var auth []string
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Header.Get("Authorization"))
		if r.URL.Path == "/org/repo/resolve/main/sub/model.safetensors" {
			w.Header().Set("X-Linked-Etag", `"`+sha+`"`)
			w.Header().Set("X-Linked-Size", "12345")
			w.Header().Set("Location", "http://cdn.invalid/blob")
			w.WriteHeader(http.StatusFound)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(s.Close)
	return s, &auth
}

func TestHuggingFace(t *testing.T) {
	s, auth := fakeHF(t)
	hf := &sources.HuggingFace{Endpoint: s.URL, Token: "hf_secret"}
	cases := []struct {
		name, ref string
		ok        bool
		wantSHA   string
		wantURL   string
	}{
		{"hf ref", "hf:org/repo/sub/model.safetensors", true, sha, s.URL + "/org/repo/resolve/main/sub/model.safetensors"},
		{"hf ref with rev", "hf:org/repo/sub/model.safetensors@v1.0", true, "", s.URL + "/org/repo/resolve/v1.0/sub/model.safetensors"},
		{"resolve url", s.URL + "/org/repo/resolve/main/sub/model.safetensors", true, sha, s.URL + "/org/repo/resolve/main/sub/model.safetensors"},
		{"blob url", s.URL + "/org/repo/blob/main/sub/model.safetensors", true, sha, s.URL + "/org/repo/resolve/main/sub/model.safetensors"},
		{"other host", "https://example.com/org/repo/resolve/main/x.safetensors", false, "", ""},
		{"too short", "hf:org/repo", false, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, ok, err := hf.Resolve(context.Background(), tc.ref)
			if ok != tc.ok || err != nil {
				t.Fatalf("ok=%v err=%v, want ok=%v", ok, err, tc.ok)
			}
			if !ok {
				return
			}
			if r.URL != tc.wantURL || r.SHA256 != tc.wantSHA || r.Filename != "model.safetensors" {
				t.Errorf("got %+v", r)
			}
		})
	}
	if len(*auth) == 0 || (*auth)[0] != "Bearer hf_secret" {
		t.Errorf("token not sent to the Hub: %v", *auth)
	}
}

func fakeCivitAI(t *testing.T) *httptest.Server {
	version := func(id int) string {
		return fmt.Sprintf(`{"id":%d,"modelId":55,"model":{"type":"LORA"},"files":[
			{"name":"extra.yaml","primary":false,"downloadUrl":"http://c/x"},
			{"name":"style.safetensors","primary":true,"sizeKB":1.5,"hashes":{"SHA256":"%s"},"downloadUrl":"http://c.invalid/api/download/models/%d"}]}`, id, strings.ToUpper(sha), id)
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/model-versions/123":
			fmt.Fprint(w, version(123))
		case "/api/v1/model-versions/by-hash/" + sha:
			fmt.Fprint(w, version(123))
		case "/api/v1/models/55":
			fmt.Fprint(w, `{"modelVersions":[{"id":123},{"id":100}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestCivitAI(t *testing.T) {
	s := fakeCivitAI(t)
	c := &sources.CivitAI{Endpoint: s.URL}
	for _, ref := range []string{"civitai:123", "urn:air:sdxl:lora:civitai:55@123", "urn:air:sdxl:lora:civitai:55",
		s.URL + "/api/download/models/123", s.URL + "/models/55?modelVersionId=123", s.URL + "/models/55"} {
		t.Run(ref, func(t *testing.T) {
			r, ok, err := c.Resolve(context.Background(), ref)
			if !ok || err != nil {
				t.Fatalf("ok=%v err=%v", ok, err)
			}
			if r.Filename != "style.safetensors" || r.SHA256 != sha || r.Folder != "loras" || r.Reference != "civitai:123" {
				t.Errorf("got %+v", r)
			}
		})
	}
	t.Run("missing version", func(t *testing.T) {
		if _, ok, err := c.Resolve(context.Background(), "civitai:999"); !ok || err == nil {
			t.Errorf("ok=%v err=%v, want an error", ok, err)
		}
	})
	t.Run("suggest by hash", func(t *testing.T) {
		cands, _ := c.Suggest(context.Background(), extension.ModelQuery{Name: "whatever.safetensors", SHA256: sha})
		if len(cands) != 1 || cands[0].Confidence != 1 || cands[0].Filename != "style.safetensors" {
			t.Errorf("got %+v", cands)
		}
	})
}

const modelList = `{"models":[
 {"name":"4x-UltraSharp","type":"upscale","base":"upscale","save_path":"default","filename":"4x-UltraSharp.pth","url":"https://hf.invalid/Kim2091/UltraSharp/resolve/main/4x-UltraSharp.pth","size":"67.0MB"},
 {"name":"flux dev fp8 (unet)","type":"diffusion_model","save_path":"diffusion_models/FLUX1","filename":"flux1-dev-fp8.safetensors","url":"https://hf.invalid/a/flux1-dev-fp8.safetensors","size":"11.9GB"},
 {"name":"flux dev fp8 (ckpt)","type":"checkpoint","save_path":"checkpoints/FLUX1","filename":"flux1-dev-fp8.safetensors","url":"https://hf.invalid/b/flux1-dev-fp8.safetensors","size":"17.2GB"},
 {"name":"hf name","type":"lora","save_path":"default","filename":"<huggingface>","url":"https://hf.invalid/c/resolve/main/lcm.safetensors","size":"1MB"}]}`

func TestManagerOffline(t *testing.T) {
	up := true
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		fmt.Fprint(w, modelList)
	}))
	defer s.Close()
	cache := filepath.Join(t.TempDir(), "cache")
	// The other files answer 404 on loopback: a missing URL would mean the default one on GitHub.
	urls := map[string]string{managerdata.FileModelList: s.URL}
	for _, f := range managerdata.Files {
		if f != managerdata.FileModelList {
			urls[f] = configtest.URL(f)
		}
	}
	opts := managerdata.Options{URLs: urls, CacheDir: cache, MaxAge: time.Hour}
	data := managerdata.New(opts)
	if err := data.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := &sources.Manager{Data: data}
	if _, _, err := m.Resolve(context.Background(), "manager:lcm.safetensors"); err == nil ||
		!strings.Contains(err.Error(), "manager.model_list_url") || !strings.Contains(err.Error(), "launcher manager-data import") {
		t.Errorf("uncached model list: %v, want the keys that fix it", err)
	}
	data.Refresh(context.Background()) // the other files fail; the model list is what counts
	q := extension.ModelQuery{Name: "FLUX1\\flux1-dev-fp8.safetensors", Folder: "diffusion_models"}
	cands, err := m.Suggest(context.Background(), q)
	if err != nil || len(cands) != 2 || cands[0].Folder != "diffusion_models" || cands[0].Confidence <= cands[1].Confidence {
		t.Fatalf("online: %v %+v", err, cands)
	}
	up = false
	// A new process (no memory), the network down: the cache answers.
	data2 := managerdata.New(opts)
	if err := data2.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	m2 := &sources.Manager{Data: data2}
	r, _, err := m2.Resolve(context.Background(), "manager:lcm.safetensors")
	if err != nil || r.Folder != "loras" || r.Filename != "lcm.safetensors" {
		t.Fatalf("offline: %v %+v", err, r)
	}
}

// TestManagerWhileLoading: a lookup whose wait for the first load ends before it (here its
// context is already done) says the data is still loading, not that the list is not cached.
func TestManagerWhileLoading(t *testing.T) {
	data := managerdata.New(managerdata.Options{}) // never loaded
	m := &sources.Manager{Data: data}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := m.Resolve(ctx, "manager:lcm.safetensors")
	if err == nil || !strings.Contains(err.Error(), "still loading") || strings.Contains(err.Error(), "not cached") {
		t.Fatalf("lookup during the load: %v, want it to say the data is still loading", err)
	}
}

func TestRegistry(t *testing.T) {
	hfs, _ := fakeHF(t)
	reg := sources.Of(&sources.HuggingFace{Endpoint: hfs.URL}, &sources.CivitAI{Endpoint: fakeCivitAI(t).URL}, sources.Direct{})
	r, err := reg.Resolve(context.Background(), hfs.URL+"/org/repo/resolve/main/sub/model.safetensors")
	if err != nil || r.Source != "huggingface" {
		t.Errorf("hub URL resolved by %q: %v", r.Source, err)
	}
	if r, err := reg.Resolve(context.Background(), "https://example.com/a/b.ckpt"); err != nil || r.Source != "direct" || r.Filename != "b.ckpt" {
		t.Errorf("direct: %+v %v", r, err)
	}
	if _, err := reg.Resolve(context.Background(), "ftp://nope"); err == nil {
		t.Error("want an error for an unknown reference")
	}
	// A workflow's embedded URL plus a hash: the hash match ranks first.
	cands, failures := reg.Suggest(context.Background(), extension.ModelQuery{Name: "b.safetensors", URL: "https://example.com/b.safetensors", SHA256: sha})
	if len(failures) != 0 {
		t.Errorf("failures: %+v", failures)
	}
	if len(cands) != 2 || cands[0].Source != "civitai" || cands[1].Source != "direct" {
		t.Errorf("suggest: %+v", cands)
	}
}
