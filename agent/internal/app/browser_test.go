package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/comfylauncher/launcher/agent/internal/config"
)

// browserReq is one request as a browser (or a script) would send it.
type browserReq struct {
	method, path, body, contentType string
	header                          map[string]string
	host                            string
}

func send(t *testing.T, srv *httptest.Server, br browserReq) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(br.method, srv.URL+br.path, strings.NewReader(br.body))
	if err != nil {
		t.Fatal(err)
	}
	if br.contentType != "" {
		req.Header.Set("Content-Type", br.contentType)
	}
	for k, v := range br.header {
		req.Header.Set(k, v)
	}
	if br.host != "" {
		req.Host = br.host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// wsStatus dials a WebSocket and returns the handshake's HTTP status (101 when it upgraded).
func wsStatus(t *testing.T, url string, header http.Header) int {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, header)
	if c != nil {
		c.Close()
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return resp.StatusCode
}

// TestBrowserRequestsWithoutToken: on the loopback default (no token) a foreign web page can
// neither change anything through the user's browser (text/plain, form and DELETE requests,
// WebSocket and Socket.IO handshakes) nor reach the API through a DNS-rebound host name, while
// the agent's own page, configured origins and clients without an Origin keep working.
func TestBrowserRequestsWithoutToken(t *testing.T) {
	t.Parallel()
	a, srv := newTestApp(t, func(c *config.Config) { c.Server.CORSOrigins = []string{"http://ui.example"} })
	if a.Token() != "" {
		t.Fatal("the test app runs with a token")
	}
	const evil = "http://evil.example"
	download := `{"url":"http://127.0.0.1:1/x.safetensors","folder":"checkpoints"}`
	crossOrigin := func(code int, out map[string]any) error {
		if code != 403 || out["type"] != "CrossOriginError" || !strings.Contains(fmt.Sprint(out["suggestions"]), "server.cors_origins") {
			return fmt.Errorf("got %d %v, want 403 CrossOriginError naming server.cors_origins", code, out)
		}
		return nil
	}
	served := func(code int, out map[string]any) error {
		if code == 403 {
			return fmt.Errorf("refused: %v", out)
		}
		return nil
	}
	cases := []struct {
		name  string
		req   browserReq
		check func(int, map[string]any) error
	}{
		{"text/plain POST from a foreign page", browserReq{method: "POST", path: "/api/models/download", body: download,
			contentType: "text/plain", header: map[string]string{"Origin": evil}}, crossOrigin},
		{"form POST from a foreign page", browserReq{method: "POST", path: "/api/create_project", body: "name=pwned",
			contentType: "application/x-www-form-urlencoded", header: map[string]string{"Origin": evil}}, crossOrigin},
		{"DELETE from a foreign page", browserReq{method: "DELETE", path: "/api/models/checkpoints/a.safetensors",
			header: map[string]string{"Origin": evil}}, crossOrigin},
		{"opaque origin", browserReq{method: "POST", path: "/api/models/download", body: download,
			contentType: "text/plain", header: map[string]string{"Origin": "null"}}, crossOrigin},
		{"cross-site without Origin, foreign Referer", browserReq{method: "POST", path: "/api/models/download", body: download,
			header: map[string]string{"Sec-Fetch-Site": "cross-site", "Referer": evil + "/page"}}, crossOrigin},
		{"cross-site without Origin or Referer", browserReq{method: "POST", path: "/api/models/download", body: download,
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, crossOrigin},
		{"Socket.IO handshake from a foreign page", browserReq{method: "GET", path: "/socket.io/?EIO=4&transport=polling",
			header: map[string]string{"Origin": evil}}, crossOrigin},
		{"DNS-rebound host name", browserReq{method: "GET", path: "/api/health", host: "evil.example:4000"},
			func(code int, out map[string]any) error {
				if code != 403 || out["type"] != "HostNotAllowedError" || !strings.Contains(fmt.Sprint(out["suggestions"]), "server.allowed_hosts") {
					return fmt.Errorf("got %d %v, want 403 HostNotAllowedError naming server.allowed_hosts", code, out)
				}
				return nil
			}},
		{"DNS-rebound POST with a matching Origin", browserReq{method: "POST", path: "/api/models/download", body: download,
			host: "evil.example:4000", header: map[string]string{"Origin": "http://evil.example:4000"}},
			func(code int, out map[string]any) error {
				if code != 403 || out["type"] != "HostNotAllowedError" {
					return fmt.Errorf("got %d %v, want 403 HostNotAllowedError", code, out)
				}
				return nil
			}},
		{"script without Origin", browserReq{method: "POST", path: "/api/models/dedupe", body: `{"dry_run":true}`}, served},
		{"the agent's own page", browserReq{method: "POST", path: "/api/models/dedupe", body: `{"dry_run":true}`,
			header: map[string]string{"Origin": srv.URL, "Sec-Fetch-Site": "same-origin"}}, served},
		{"configured CORS origin", browserReq{method: "POST", path: "/api/models/dedupe", body: `{"dry_run":true}`,
			header: map[string]string{"Origin": "http://ui.example"}}, served},
		{"read from a foreign page", browserReq{method: "GET", path: "/api/models", header: map[string]string{"Origin": evil}}, served},
		{"localhost", browserReq{method: "GET", path: "/api/health", host: "localhost:4000"}, served},
		{"127.0.0.0/8", browserReq{method: "GET", path: "/api/health", host: "127.1.2.3:4000"}, served},
		{"::1", browserReq{method: "GET", path: "/api/health", host: "[::1]:4000"}, served},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := send(t, srv, tc.req)
			if err := tc.check(code, out); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, out := send(t, srv, browserReq{method: "GET", path: "/api/downloads"}); out["total_count"] != float64(0) {
		t.Errorf("a refused request started a download: %v", out)
	}
	if code, _ := send(t, srv, browserReq{method: "GET", path: "/api/projects/pwned"}); code != 404 {
		t.Errorf("a refused form POST created a project (GET %d)", code)
	}

	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	if code := wsStatus(t, ws, http.Header{"Origin": {evil}}); code != 403 {
		t.Errorf("/ws from a foreign origin: %d, want 403", code)
	}
	if code := wsStatus(t, ws, http.Header{"Origin": {srv.URL}}); code != 101 {
		t.Errorf("/ws from the agent's own page: %d, want 101", code)
	}
}

// TestAllowedHosts: a name in server.allowed_hosts is served without a token; with a token
// every host name is (the token is the protection then).
func TestAllowedHosts(t *testing.T) {
	t.Parallel()
	_, named := newTestApp(t, func(c *config.Config) { c.Server.AllowedHosts = []string{"launcher.lan"} })
	if code, out := send(t, named, browserReq{method: "GET", path: "/api/health", host: "Launcher.LAN:4000"}); code != 200 {
		t.Errorf("allowed host: %d %v", code, out)
	}
	if code, _ := send(t, named, browserReq{method: "GET", path: "/api/health", host: "other.lan"}); code != 403 {
		t.Errorf("other host: %d, want 403", code)
	}
	_, tok := newTestApp(t, func(c *config.Config) { c.Server.Token = "0123456789abcdef0123" })
	if code, out := send(t, tok, browserReq{method: "GET", path: "/api/projects", host: "gpu-node-7:4000",
		header: map[string]string{"Authorization": "Bearer 0123456789abcdef0123"}}); code != 200 {
		t.Errorf("any host with a token: %d %v", code, out)
	}
}
