package settings

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/store"
	"github.com/julienschmidt/httprouter"
)

// newSettings opens a store in a temporary folder and serves the settings routes on it.
func newSettings(t *testing.T, server Server, onChange func(map[string]any)) (*Settings, *httptest.Server) {
	t.Helper()
	db, err := store.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := New(db, server, onChange)
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	r := httprouter.New()
	Routes(r, s)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return s, srv
}

func call(t *testing.T, method, url, body string) (int, map[string]any, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, raw
}

func TestConfigMasking(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		seen []map[string]any
	)
	s, srv := newSettings(t, Server{}, func(cfg map[string]any) { mu.Lock(); seen = append(seen, cfg); mu.Unlock() })
	secret := "civitai-secret-0123456789"
	steps := []struct {
		name, method, path, body string
		check                    func(t *testing.T, body map[string]any, raw []byte)
	}{
		{"default config", "GET", "/api/get_config", "", func(t *testing.T, b map[string]any, raw []byte) {
			if !strings.Contains(string(raw), `"apikey":""`) {
				t.Fatalf("%s", raw)
			}
		}},
		{"update merges deeply", "POST", "/api/update_config", `{"credentials":{"civitai":{"apikey":"` + secret + `"},"hf":{"token":"hf_abc"}}}`, nil},
		{"read is masked", "GET", "/api/get_config", "", func(t *testing.T, b map[string]any, raw []byte) {
			if strings.Contains(string(raw), secret) || strings.Contains(string(raw), "hf_abc") {
				t.Fatalf("secret leaked: %s", raw)
			}
			if !strings.Contains(string(raw), `"****6789"`) {
				t.Fatalf("mask missing: %s", raw)
			}
		}},
		{"posting the masked config back keeps the secret", "POST", "/api/set_config", `{"credentials":{"civitai":{"apikey":"****6789"},"hf":{"token":"****"}},"other":1}`, nil},
		{"partial update keeps siblings", "POST", "/api/update_config", `{"credentials":{"hf":{"token":"hf_new"}}}`, nil},
		{"not an object", "POST", "/api/set_config", `[1]`, func(t *testing.T, b map[string]any, raw []byte) {
			if b["type"] != "ValidationError" {
				t.Fatalf("%s", raw)
			}
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			code, body, raw := call(t, st.method, srv.URL+st.path, st.body)
			if st.check != nil {
				st.check(t, body, raw)
			} else if code != 200 {
				t.Fatalf("%d %s", code, raw)
			}
		})
	}
	cfg, _ := s.UserConfig()
	creds := cfg["credentials"].(map[string]any)
	if creds["civitai"].(map[string]any)["apikey"] != secret || creds["hf"].(map[string]any)["token"] != "hf_new" || cfg["other"] != float64(1) {
		t.Fatalf("stored config = %v", cfg)
	}
	mu.Lock()
	defer mu.Unlock()
	// Three successful writes, each seen in clear; the rejected one is not.
	if len(seen) != 3 || seen[2]["credentials"].(map[string]any)["hf"].(map[string]any)["token"] != "hf_new" {
		t.Fatalf("onChange saw %v", seen)
	}
}

// TestServerSettings: GET /api/settings reports the agent's port range and folders.
func TestServerSettings(t *testing.T) {
	t.Parallel()
	_, srv := newSettings(t, Server{PortMin: 8200, PortMax: 8299, ProjectsDir: "/data/projects", ModelsDir: "/models"}, nil)
	code, body, raw := call(t, "GET", srv.URL+"/api/settings", "")
	if code != 200 || body["PROJECT_MIN_PORT"] != float64(8200) || body["PROJECT_MAX_PORT"] != float64(8299) ||
		body["PROJECTS_DIR"] != "/data/projects" || body["MODELS_DIR"] != "/models" || body["PROXY_MODE"] != true ||
		body["ALLOW_OVERRIDABLE_PORTS_PER_PROJECT"] != true {
		t.Fatalf("%d %s", code, raw)
	}
}
