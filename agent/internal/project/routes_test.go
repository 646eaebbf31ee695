package project_test

// The handlers of projecthttp are tested here, in the external test package of project, so that
// they run over the package's test harness (a real store and install pipeline with a stand-in
// supervisor; see export_test.go).

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/project"
	"github.com/comfylauncher/launcher/agent/internal/project/projecthttp"
	"github.com/julienschmidt/httprouter"
)

func serve(t *testing.T, m *project.Manager) *httptest.Server {
	t.Helper()
	r := httprouter.New()
	projecthttp.Routes(r, m, 0)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
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

func TestRoutesLifecycle(t *testing.T) {
	t.Parallel()
	h := project.NewHarness(t)
	srv := serve(t, h.M)

	code, body, raw := call(t, "POST", srv.URL+"/api/create_project", `{"name":"Démo Project!","template_id":"empty"}`)
	if code != 200 || body["success"] != true || body["id"] != "demo-project" {
		t.Fatalf("create: %d %s", code, raw)
	}
	project.WaitSettled(t, h.M, "demo-project")

	t.Run("list has the original shape", func(t *testing.T) {
		code, _, raw := call(t, "GET", srv.URL+"/api/projects", "")
		var list []map[string]any
		if code != 200 || json.Unmarshal(raw, &list) != nil || len(list) != 1 {
			t.Fatalf("%d %s", code, raw)
		}
		p := list[0]
		st := p["state"].(map[string]any)
		for _, k := range []string{"id", "project_folder_name", "project_folder_path", "last_modified", "port"} {
			if _, ok := p[k]; !ok {
				t.Errorf("missing %s", k)
			}
		}
		if st["state"] != "ready" || st["status_message"] != "Ready" || st["name"] != "Démo Project!" {
			t.Errorf("state = %v", st)
		}
	})

	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		typ                      string
	}{
		{"unknown project", "GET", "/api/projects/nope", "", 404, "ProjectNotFoundError"},
		{"duplicate", "POST", "/api/create_project", `{"name":"demo project"}`, 409, "ProjectExistsError"},
		{"no name", "POST", "/api/create_project", `{}`, 400, "ValidationError"},
		{"bad json", "POST", "/api/create_project", `{"name":`, 400, "ValidationError"},
		{"port out of range", "POST", "/api/create_project", `{"name":"x","port":80}`, 400, "ValidationError"},
		{"agent-owned arg", "POST", "/api/create_project", `{"name":"x","launch_args":["--port=1"]}`, 400, "ValidationError"},
		{"bad gpu", "POST", "/api/create_project", `{"name":"x","gpu":"fast"}`, 400, "ValidationError"},
		{"unknown template", "POST", "/api/create_project", `{"name":"x","template_id":"nope"}`, 404, "TemplateNotFoundError"},
		{"bad launcher json", "POST", "/api/create_project", `{"name":"x","launcher_json":{"files":[[{"dest_relative_path":"../../etc/passwd"}]]}}`, 400, "ValidationError"},
		{"import without json", "POST", "/api/import_project", `{"name":"y"}`, 400, "ValidationError"},
		{"import workflow without importer", "POST", "/api/import_project", `{"name":"y","import_json":{"nodes":[]}}`, 503, "ServiceUnavailableError"},
		{"stop a ready project", "POST", "/api/projects/demo-project/stop", "", 409, "InvalidStateError"},
		{"retry a ready project", "POST", "/api/projects/demo-project/retry", "", 409, "InvalidStateError"},
		{"logs bad page", "GET", "/api/logs/demo-project?page=0", "", 400, "ValidationError"},
		{"logs bad level", "GET", "/api/logs/demo-project?level=debug", "", 400, "ValidationError"},
		{"logs unknown project", "GET", "/api/logs/nope", "", 404, "ProjectNotFoundError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, raw := call(t, tc.method, srv.URL+tc.path, tc.body)
			if code != tc.code || body["type"] != tc.typ {
				t.Fatalf("%d %s, want %d %s", code, raw, tc.code, tc.typ)
			}
			if s, ok := body["suggestions"].([]any); !ok || len(s) == 0 {
				t.Fatalf("no suggestions: %s", raw)
			}
		})
	}

	t.Run("start, proxy target, stop", func(t *testing.T) {
		code, body, raw := call(t, "POST", srv.URL+"/api/projects/demo-project/start", "")
		if code != 200 || body["success"] != true || body["port"] == nil {
			t.Fatalf("start: %d %s", code, raw)
		}
		port, ok := h.M.Target("demo-project")
		if !ok || port == 0 || float64(port) != body["port"].(float64) {
			t.Fatalf("Target = %d %v", port, ok)
		}
		// The original UI in proxy mode addresses projects as /comfy/<port>/.
		if byPort, ok := h.M.Target(strconv.Itoa(port)); !ok || byPort != port {
			t.Fatalf("Target(%d) = %d %v, want the running project's port", port, byPort, ok)
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/system_stats", port))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		code, _, raw = call(t, "POST", srv.URL+"/api/projects/demo-project/stop", "")
		if code != 200 {
			t.Fatalf("stop: %d %s", code, raw)
		}
		if port, known := h.M.Target("demo-project"); port != 0 || !known {
			t.Fatalf("stopped project: Target = %d, %v; want 0, true (known, not running)", port, known)
		}
		if _, known := h.M.Target("no-such-project"); known {
			t.Fatal("unknown project reported as known")
		}
	})

	t.Run("a failed start is the failed state, then start works", func(t *testing.T) {
		h.FailStarts(fmt.Errorf("port in use"))
		code, _, _ := call(t, "POST", srv.URL+"/api/projects/demo-project/start", "")
		if code < 400 {
			t.Fatalf("start succeeded: %d", code)
		}
		p, _ := h.M.Get("demo-project")
		if p.State != project.StateFailed || p.Failure.Step != "start" {
			t.Fatalf("state %s failure %+v", p.State, p.Failure)
		}
		h.FailStarts(nil)
		if code, _, raw := call(t, "POST", srv.URL+"/api/projects/demo-project/retry", ""); code != 200 {
			t.Fatalf("retry: %d %s", code, raw)
		}
		if p, _ := h.M.Get("demo-project"); p.State != project.StateRunning {
			t.Fatalf("state %s", p.State)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if code, _, raw := call(t, "POST", srv.URL+"/api/projects/demo-project/delete", ""); code != 200 {
			t.Fatalf("delete: %d %s", code, raw)
		}
		if code, _, _ := call(t, "GET", srv.URL+"/api/projects/demo-project", ""); code != 404 {
			t.Fatalf("get after delete: %d", code)
		}
		if _, err := os.Stat(h.M.Dir("demo-project")); !os.IsNotExist(err) {
			t.Fatal("folder left behind")
		}
	})
}

func TestLogsPagination(t *testing.T) {
	t.Parallel()
	h := project.NewHarness(t)
	srv := serve(t, h.M)
	if _, err := h.M.Create(t.Context(), project.CreateRequest{Name: "logs"}); err != nil {
		t.Fatal(err)
	}
	project.WaitSettled(t, h.M, "logs")
	h.ForgetLogs(t, "logs")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 250 {
		level := project.LevelInfo
		if i%10 == 0 {
			level = project.LevelError
		}
		h.AddLogAt("logs", base.Add(time.Duration(i)*time.Second), level, fmt.Sprintf("line %03d", i), nil)
	}
	for _, tc := range []struct {
		name, query     string
		n, total, pages int
		first           string
	}{
		{"default page", "", 100, 250, 3, "line 000"},
		{"last page", "?page=3", 50, 250, 3, "line 200"},
		{"beyond the end", "?page=9", 0, 250, 3, ""},
		{"small pages", "?page=2&per_page=7", 7, 250, 36, "line 007"},
		{"level filter", "?level=error&per_page=10&page=2", 10, 25, 3, "line 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, raw := call(t, "GET", srv.URL+"/api/logs/logs"+tc.query, "")
			var out struct {
				Logs       []project.LogEntry `json:"logs"`
				Pagination project.Pagination `json:"pagination"`
			}
			if code != 200 || json.Unmarshal(raw, &out) != nil {
				t.Fatalf("%d %s", code, raw)
			}
			if len(out.Logs) != tc.n || out.Pagination.Total != tc.total || out.Pagination.Pages != tc.pages {
				t.Fatalf("got %d logs, pagination %+v", len(out.Logs), out.Pagination)
			}
			if tc.n > 0 && out.Logs[0].Message != tc.first {
				t.Fatalf("first = %q, want %q", out.Logs[0].Message, tc.first)
			}
			if out.Logs == nil {
				t.Fatal("logs must be [] not null")
			}
		})
	}
}
