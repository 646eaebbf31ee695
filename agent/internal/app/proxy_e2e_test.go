package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
)

const proxyToken = "0123456789abcdef0123456789abcdef"

// TestComfyUIBehindTheAgent runs the whole agent with a token and one project whose ComfyUI is
// the fake, and checks the browser-facing side of the reverse proxy: the page loads with only
// the session cookie after one request with the token, uploads larger than server.max_body_bytes
// reach ComfyUI, a foreign page can neither post a prompt nor open ComfyUI's WebSocket, and an
// OPTIONS request is not a way around auth.
func TestComfyUIBehindTheAgent(t *testing.T) {
	t.Parallel()
	fx := makeFixtures(t)
	python := projecttest.Python(t)
	a, srv := newTestApp(t, func(cfg *config.Config) {
		cfg.ComfyUI.Repo = fx.ComfyUI
		cfg.ComfyUI.Python = python
		cfg.ComfyUI.ReadyTimeout = config.Duration{Duration: 60 * time.Second}
		cfg.Server.Token = proxyToken
		cfg.Server.MaxBodyBytes = 4096
		cfg.Server.CORSOrigins = []string{"http://ui.example"}
	})
	t.Cleanup(func() { // before the app shuts down: the agent leaves ComfyUI running by design
		req, _ := http.NewRequest("POST", "/api/projects/demo/stop", nil)
		req.Header.Set("Authorization", "Bearer "+proxyToken)
		a.Handler().ServeHTTP(httptest.NewRecorder(), req)
	})
	authed := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		return send(t, srv, browserReq{method: method, path: path, body: body, header: map[string]string{"Authorization": "Bearer " + proxyToken}})
	}
	if code, out := authed("POST", "/api/create_project", fmt.Sprintf(`{"name":"demo","port":%d}`, projecttest.FreePort(t))); code != 200 {
		t.Fatalf("create: %d %v", code, out)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		_, p := authed("GET", "/api/projects/demo", "")
		st, _ := p["state"].(map[string]any)
		if st["state"] == "ready" {
			break
		}
		if st["state"] == "failed" || time.Now().After(deadline) {
			t.Fatalf("install did not finish: %v", p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, out := authed("POST", "/api/projects/demo/start", ""); code != 200 {
		t.Fatalf("start: %d %v", code, out)
	}

	t.Run("page load with only the cookie", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/comfy/demo/?token=" + proxyToken)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var cookie *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == api.SessionCookie {
				cookie = c
			}
		}
		if resp.StatusCode != 200 || !strings.Contains(string(page), "fake ComfyUI") || cookie == nil || cookie.Path != "/comfy/" || !cookie.HttpOnly {
			t.Fatalf("first load: %d %q, cookie %+v", resp.StatusCode, page, cookie)
		}
		withCookie := map[string]string{"Cookie": cookie.Name + "=" + cookie.Value}
		if code, out := send(t, srv, browserReq{method: "GET", path: "/comfy/demo/system_stats", header: withCookie}); code != 200 || out["system"] == nil {
			t.Errorf("asset with the cookie: %d %v", code, out)
		}
		if code, _ := send(t, srv, browserReq{method: "GET", path: "/comfy/demo/system_stats"}); code != 401 {
			t.Errorf("asset without cookie or token: %d, want 401", code)
		}
		if code, _ := send(t, srv, browserReq{method: "GET", path: "/api/projects", header: withCookie}); code != 401 {
			t.Errorf("the /comfy/ cookie authenticated the API: %d, want 401", code)
		}
		// The page's own script: same origin, cookie only, through to ComfyUI's WebSocket.
		ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/comfy/demo/ws?clientId=page"
		c, resp, err := websocket.DefaultDialer.Dial(ws, http.Header{"Cookie": {withCookie["Cookie"]}, "Origin": {srv.URL}})
		if err != nil {
			t.Fatalf("page WebSocket: %v (%v)", err, resp)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var msg map[string]any
		if err := c.ReadJSON(&msg); err != nil || msg["type"] != "status" {
			t.Fatalf("first message %v, %v", msg, err)
		}
		// A same-origin prompt from the page reaches ComfyUI (the fake refuses an empty one).
		code, out := send(t, srv, browserReq{method: "POST", path: "/comfy/demo/prompt", body: `{"prompt":null}`,
			contentType: "application/json", header: map[string]string{"Cookie": withCookie["Cookie"], "Origin": srv.URL}})
		if code != 400 || !strings.Contains(toJSON(out), "no_prompt") {
			t.Errorf("same-origin prompt: %d %v, want ComfyUI's own 400 no_prompt", code, out)
		}
	})

	t.Run("foreign page through the proxy", func(t *testing.T) {
		const evil = "http://evil.example"
		code, out := send(t, srv, browserReq{method: "POST", path: "/comfy/demo/prompt", body: `{"prompt":{}}`,
			contentType: "text/plain", header: map[string]string{"Origin": evil, "Authorization": "Bearer " + proxyToken}})
		if code != 403 || out["type"] != "CrossOriginError" {
			t.Errorf("foreign prompt: %d %v, want 403 CrossOriginError", code, out)
		}
		ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/comfy/demo/ws?token=" + proxyToken
		if code := wsStatus(t, ws, http.Header{"Origin": {evil}}); code != 403 {
			t.Errorf("foreign WebSocket through the proxy: %d, want 403", code)
		}
		if code := wsStatus(t, ws, http.Header{"Origin": {"http://ui.example"}}); code != 101 {
			t.Errorf("WebSocket from a configured origin: %d, want 101", code)
		}
	})

	t.Run("OPTIONS needs the token except an API preflight", func(t *testing.T) {
		if code, _ := send(t, srv, browserReq{method: "OPTIONS", path: "/comfy/demo/prompt"}); code != 401 {
			t.Errorf("OPTIONS through the proxy without a token: %d, want 401", code)
		}
		preflight := map[string]string{"Origin": "http://ui.example", "Access-Control-Request-Method": "POST"}
		if code, _ := send(t, srv, browserReq{method: "OPTIONS", path: "/comfy/demo/prompt", header: preflight}); code != 401 {
			t.Errorf("preflight of /comfy/ without a token: %d, want 401", code)
		}
		if code, _ := send(t, srv, browserReq{method: "OPTIONS", path: "/api/projects", header: preflight}); code != 204 {
			t.Errorf("API preflight from a configured origin: %d, want 204", code)
		}
	})

	t.Run("uploads beyond max_body_bytes reach ComfyUI", func(t *testing.T) {
		big := bytes.Repeat([]byte("p"), 64<<10)
		req, _ := http.NewRequest("POST", srv.URL+"/comfy/demo/upload/image", bytes.NewReader(big))
		req.Header.Set("Authorization", "Bearer "+proxyToken)
		req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != 200 || out["bytes"] != float64(len(big)) {
			t.Errorf("proxied upload: %d %v, want ComfyUI to get all %d bytes", resp.StatusCode, out, len(big))
		}
		if code, out := authed("POST", "/api/create_project", `{"name":"`+string(big)+`"}`); code != 413 {
			t.Errorf("API body over the limit: %d %v, want 413", code, out)
		}
	})
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// makeFixtures builds the fake ComfyUI's git repositories (projecttest); it skips the test
// without git or python3.
func makeFixtures(t *testing.T) projecttest.Fixtures {
	t.Helper()
	for _, tool := range []string{"git", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: needed to install projects", tool)
		}
	}
	return projecttest.MakeFixtures(t)
}
