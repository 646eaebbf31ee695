package proxy

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/process"
	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"
)

type resolver map[string]int

func (r resolver) Target(id string) (int, bool) { p, ok := r[id]; return p, ok }

// startFake runs the fake ComfyUI under the real supervisor and returns its port.
func startFake(t *testing.T) int {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not found")
	}
	dir, _ := filepath.Abs("../../../scripts/fake_comfyui")
	s := process.New(nil, process.Hooks{}, process.Options{PollInterval: 20 * time.Millisecond})
	t.Cleanup(func() { s.StopAll(context.Background()) })
	rec, err := s.Start(context.Background(), process.Spec{
		ProjectID: "demo", Dir: dir, Python: "python3", Port: projecttest.FreePort(t), LogDir: t.TempDir(),
		Args: []string{"--cpu"}, Env: map[string]string{"FAKE_COMFYUI_DELAY": "0"},
		ReadyTimeout: 30 * time.Second, StopGrace: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("start fake: %v", err)
	}
	return rec.Port
}

// echoUpstream answers with what it received, to check what the proxy forwards.
func echoUpstream(t *testing.T) int {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/login?next=1", http.StatusFound)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"path": r.URL.Path, "raw_path": r.URL.RawPath, "query": r.URL.RawQuery, "host": r.Host,
			"authorization": r.Header.Get("Authorization"), "origin": r.Header.Get("Origin"),
			"prefix": r.Header.Get("X-Forwarded-Prefix"), "cookie": r.Header.Get("Cookie"),
		})
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

func newAgent(t *testing.T, res resolver) *httptest.Server {
	r := httprouter.New()
	New(res, nil).Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

func TestProxyHTTP(t *testing.T) {
	fake := startFake(t)
	echo := echoUpstream(t)
	agent := newAgent(t, resolver{"demo": fake, "echo": echo, "stopped": 0, "gone": projecttest.FreePort(t)})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	tests := []struct {
		name     string
		method   string
		path     string
		body     string
		header   map[string]string
		status   int
		check    func(t *testing.T, resp *http.Response, body map[string]any)
		wantType string
	}{
		{name: "system_stats of the fake", method: "GET", path: "/comfy/demo/system_stats", status: 200,
			check: func(t *testing.T, _ *http.Response, b map[string]any) {
				devs, _ := b["devices"].([]any)
				if len(devs) != 1 {
					t.Errorf("devices %v", b["devices"])
				}
			}},
		{name: "prompt with a browser origin", method: "POST", path: "/comfy/demo/api/prompt",
			body:   `{"prompt":{"1":{"class_type":"EmptyLatentImage","inputs":{}},"2":{"class_type":"PreviewImage","inputs":{}}},"client_id":"c1"}`,
			header: map[string]string{"Origin": "http://agent.example:4000", "Content-Type": "application/json"}, status: 200,
			check: func(t *testing.T, _ *http.Response, b map[string]any) {
				if id, _ := b["prompt_id"].(string); id == "" {
					t.Errorf("no prompt_id in %v", b)
				}
			}},
		{name: "agent credentials are stripped", method: "GET", path: "/comfy/echo/a%2Fb/view?filename=x.png&token=secret",
			header: map[string]string{"Authorization": "Bearer secret", "Origin": "http://agent.example",
				"Cookie": "comfy_pref=dark; launcher_token=secret"}, status: 200,
			check: func(t *testing.T, _ *http.Response, b map[string]any) {
				if b["cookie"] != "comfy_pref=dark" {
					t.Errorf("cookies forwarded %q, want only ComfyUI's own", b["cookie"])
				}
				if b["authorization"] != "" || b["origin"] != "" || strings.Contains(b["query"].(string), "token") {
					t.Errorf("forwarded agent credentials: %v", b)
				}
				if b["query"] != "filename=x.png" || b["raw_path"] != "/a%2Fb/view" || b["prefix"] != "/comfy/echo" {
					t.Errorf("forwarded %v", b)
				}
				if !strings.HasPrefix(b["host"].(string), "127.0.0.1:") {
					t.Errorf("host %v", b["host"])
				}
			}},
		{name: "redirects stay under the prefix", method: "GET", path: "/comfy/echo/redirect", status: http.StatusFound,
			check: func(t *testing.T, resp *http.Response, _ map[string]any) {
				if loc := resp.Header.Get("Location"); loc != "/comfy/echo/login?next=1" {
					t.Errorf("Location %q", loc)
				}
			}},
		{name: "trailing slash", method: "GET", path: "/comfy/demo?x=1", status: http.StatusMovedPermanently,
			check: func(t *testing.T, resp *http.Response, _ map[string]any) {
				if loc := resp.Header.Get("Location"); loc != "/comfy/demo/?x=1" {
					t.Errorf("Location %q", loc)
				}
			}},
		{name: "unknown project", method: "GET", path: "/comfy/nope/system_stats", status: 404, wantType: "ProjectNotFoundError"},
		{name: "stopped project", method: "GET", path: "/comfy/stopped/", status: 503, wantType: "ProjectNotRunningError"},
		{name: "nothing listening", method: "POST", path: "/comfy/gone/prompt", status: 503, wantType: "ComfyUIUnreachableError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, agent.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tc.status, body)
			}
			if tc.wantType != "" {
				sugg, _ := body["suggestions"].([]any)
				if body["type"] != tc.wantType || len(sugg) == 0 {
					t.Errorf("envelope %v; want type %s with suggestions", body, tc.wantType)
				}
			}
			if tc.check != nil {
				tc.check(t, resp, body)
			}
		})
	}
}

func TestProxyWebSocket(t *testing.T) {
	fake := startFake(t)
	agent := newAgent(t, resolver{"demo": fake})
	url := "ws" + strings.TrimPrefix(agent.URL, "http") + "/comfy/demo/ws?clientId=abc&token=secret"
	h := http.Header{"Origin": {"http://agent.example:4000"}, "Authorization": {"Bearer secret"}}
	conn, resp, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("dial through proxy: %v (status %d)", err, code)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))

	var status struct {
		Type string `json:"type"`
		Data struct {
			SID    string `json:"sid"`
			Status struct {
				ExecInfo struct {
					QueueRemaining *int `json:"queue_remaining"`
				} `json:"exec_info"`
			} `json:"status"`
		} `json:"data"`
	}
	if err := conn.ReadJSON(&status); err != nil {
		t.Fatalf("read status: %v", err)
	}
	if status.Type != "status" || status.Data.SID != "abc" || status.Data.Status.ExecInfo.QueueRemaining == nil {
		t.Fatalf("first message %+v", status)
	}
	for i, msg := range []string{"hello", strings.Repeat("x", 70000)} {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		typ, got, err := conn.ReadMessage()
		if err != nil || typ != websocket.TextMessage || string(got) != msg {
			t.Fatalf("echo %d: type %d, %d bytes, err %v", i, typ, len(got), err)
		}
	}
	if err := conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")); err != nil {
		t.Fatal(err)
	}
}
