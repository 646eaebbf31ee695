package settingshttp

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/settings"
	"github.com/comfylauncher/launcher/agent/internal/store"
	"github.com/julienschmidt/httprouter"
)

// newSettings opens a store in a temporary folder and returns the settings and their routes.
func newSettings(t *testing.T, server settings.Server, onChange func(map[string]any)) (*settings.Settings, http.Handler) {
	t.Helper()
	db, err := store.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := settings.New(db, server, onChange)
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	r := httprouter.New()
	Routes(r, s)
	return s, r
}

// serve sends one request to h and returns the status and the body, raw and as an object.
func serve(h http.Handler, method, path, body string) (int, map[string]any, []byte) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m, rec.Body.Bytes()
}

func TestConfigMasking(t *testing.T) {
	t.Parallel()
	var seen []map[string]any
	s, h := newSettings(t, settings.Server{}, func(cfg map[string]any) { seen = append(seen, cfg) })
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
			code, body, raw := serve(h, st.method, st.path, st.body)
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
	// Three successful writes, each seen in clear; the rejected one is not.
	if len(seen) != 3 || seen[2]["credentials"].(map[string]any)["hf"].(map[string]any)["token"] != "hf_new" {
		t.Fatalf("onChange saw %v", seen)
	}
}

// TestServerSettings: GET /api/settings reports the agent's port range and folders.
func TestServerSettings(t *testing.T) {
	t.Parallel()
	_, h := newSettings(t, settings.Server{PortMin: 8200, PortMax: 8299, ProjectsDir: "/data/projects", ModelsDir: "/models"}, nil)
	code, body, raw := serve(h, "GET", "/api/settings", "")
	if code != 200 || body["PROJECT_MIN_PORT"] != float64(8200) || body["PROJECT_MAX_PORT"] != float64(8299) ||
		body["PROJECTS_DIR"] != "/data/projects" || body["MODELS_DIR"] != "/models" || body["PROXY_MODE"] != true ||
		body["ALLOW_OVERRIDABLE_PORTS_PER_PROJECT"] != true {
		t.Fatalf("%d %s", code, raw)
	}
}
