package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/julienschmidt/httprouter"
)

func newTestServer(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	if opts.MaxBody == 0 {
		opts.MaxBody = 1024
	}
	s := New(opts)
	s.Router.POST("/api/echo", func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		var v map[string]any
		if err := DecodeJSON(w, r, &v, 0); err != nil {
			WriteError(w, r, err)
			return
		}
		WriteJSON(w, http.StatusOK, v)
	})
	s.Router.GET("/api/things", func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		WriteJSON(w, http.StatusOK, map[string]any{"things": []string{}})
	})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

type envelope struct {
	Error       string   `json:"error"`
	Type        string   `json:"type"`
	Suggestions []string `json:"suggestions"`
	Traceback   *string  `json:"traceback"`
}

func do(t *testing.T, req *http.Request) (*http.Response, envelope) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env envelope
	if resp.StatusCode >= 400 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("error content type %q", ct)
		}
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
			t.Fatalf("error body is not JSON: %v", err)
		}
	}
	return resp, env
}

func TestErrorEnvelopes(t *testing.T) {
	ts := newTestServer(t, Options{})
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantType                 string
	}{
		{"404 unknown route", "GET", "/api/nope", "", 404, "NotFoundError"},
		{"405 wrong method", "DELETE", "/api/things", "", 405, "MethodNotAllowedError"},
		{"413 body too large", "POST", "/api/echo", `{"a":"` + strings.Repeat("x", 2000) + `"}`, 413, "PayloadTooLargeError"},
		{"400 malformed JSON", "POST", "/api/echo", `{"a":`, 400, "ValidationError"},
		{"400 empty body", "POST", "/api/echo", ``, 400, "ValidationError"},
		{"400 wrong JSON type", "POST", "/api/echo", `[1,2]`, 400, "ValidationError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
			resp, env := do(t, req)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if env.Type != tc.wantType || env.Error == "" || len(env.Suggestions) == 0 {
				t.Fatalf("envelope %+v, want type %s with error and suggestions", env, tc.wantType)
			}
			if env.Traceback != nil {
				t.Fatal("traceback present with debug off")
			}
		})
	}
}

func TestTracebackOnlyInDebug(t *testing.T) {
	ts := newTestServer(t, Options{Debug: true})
	req, _ := http.NewRequest("GET", ts.URL+"/api/nope", nil)
	_, env := do(t, req)
	if env.Traceback == nil || *env.Traceback == "" {
		t.Fatal("debug mode should include a traceback")
	}
}

func TestAuth(t *testing.T) {
	const token = "0123456789abcdef0123"
	tests := []struct {
		name       string
		token      string // server token
		path       string
		header     string
		query      string
		wantStatus int
	}{
		{"auth off", "", "/api/things", "", "", 200},
		{"missing token", token, "/api/things", "", "", 401},
		{"wrong token", token, "/api/things", "Bearer nope", "", 401},
		{"bearer header", token, "/api/things", "Bearer " + token, "", 200},
		{"query token", token, "/api/things", "", token, 200},
		{"health is public", token, "/api/health", "", "", 200},
		{"404 still needs auth", token, "/api/nope", "", "", 401},
		{"OPTIONS that is no preflight needs auth", token, "/api/things", "", "", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Options{Token: tc.token, Public: []string{"/api/health"}})
			url := ts.URL + tc.path
			if tc.query != "" {
				url += "?token=" + tc.query
			}
			method := "GET"
			if strings.HasPrefix(tc.name, "OPTIONS") {
				method = "OPTIONS"
			}
			req, _ := http.NewRequest(method, url, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, env := do(t, req)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.wantStatus == 401 && (env.Type != "AuthenticationError" || resp.Header.Get("WWW-Authenticate") == "") {
				t.Fatalf("401 without auth envelope/header: %+v", env)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	ts := newTestServer(t, Options{CORSOrigins: []string{"http://ui.example"}, Token: "0123456789abcdef0123"})
	t.Run("preflight allowed origin without token", func(t *testing.T) {
		req, _ := http.NewRequest("OPTIONS", ts.URL+"/api/things", nil)
		req.Header.Set("Origin", "http://ui.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, _ := do(t, req)
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "http://ui.example" ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("preflight from another origin is refused", func(t *testing.T) {
		req, _ := http.NewRequest("OPTIONS", ts.URL+"/api/things", nil)
		req.Header.Set("Origin", "http://evil.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, env := do(t, req)
		if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" || env.Type != "CORSError" {
			t.Fatalf("foreign preflight: %d %+v", resp.StatusCode, env)
		}
	})
	t.Run("simple request carries allow-origin", func(t *testing.T) {
		req, _ := http.NewRequest("GET", ts.URL+"/api/things", nil)
		req.Header.Set("Origin", "http://ui.example")
		req.Header.Set("Authorization", "Bearer 0123456789abcdef0123")
		resp, _ := do(t, req)
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "http://ui.example" {
			t.Fatalf("simple: %d %v", resp.StatusCode, resp.Header)
		}
	})
}

func TestHealth(t *testing.T) {
	s := New(Options{Version: "1.2.3"})
	s.AddHealth("gpu", func() (bool, any) { return false, "nvidia-smi not found" })
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/api/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status     string                    `json:"status"`
		Version    string                    `json:"version"`
		Uptime     float64                   `json:"uptime_seconds"`
		Components map[string]map[string]any `json:"components"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	if body.Version != "1.2.3" || body.Status != "degraded" || body.Components["gpu"]["ok"] != false {
		t.Fatalf("health: %+v", body)
	}
}

func TestProxyCookieAuthAndUnlimitedBody(t *testing.T) {
	const token = "0123456789abcdef0123"
	s := New(Options{Token: token, MaxBody: 1024, CookieAuth: []string{"/comfy/"}, Unlimited: []string{"/comfy/"}})
	var gotLen int
	s.Router.POST("/comfy/:id/*path", func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			WriteError(w, r, err)
			return
		}
		gotLen = len(b)
		w.WriteHeader(http.StatusOK)
	})
	s.Router.GET("/comfy/:id/*path", func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		w.WriteHeader(http.StatusOK)
	})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	// A token in the query sets the session cookie for /comfy/ ...
	resp, _ := do(t, mustReq(t, "GET", ts.URL+"/comfy/p1/?token="+token, ""))
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			cookie = c
		}
	}
	if resp.StatusCode != 200 || cookie == nil || !cookie.HttpOnly || cookie.Path != "/comfy/" {
		t.Fatalf("no HttpOnly session cookie scoped to /comfy/: %d %+v", resp.StatusCode, cookie)
	}
	tests := []struct {
		name   string
		req    *http.Request
		cookie *http.Cookie
		want   int
	}{
		{"sub-request with the cookie", mustReq(t, "GET", ts.URL+"/comfy/p1/scripts/app.js", ""), cookie, 200},
		{"sub-request without the cookie", mustReq(t, "GET", ts.URL+"/comfy/p1/scripts/app.js", ""), nil, 401},
		{"wrong cookie", mustReq(t, "GET", ts.URL+"/comfy/p1/x", ""), &http.Cookie{Name: SessionCookie, Value: "nope"}, 401},
		{"cookie does not open the API", mustReq(t, "GET", ts.URL+"/api/health2", ""), cookie, 401},
		{"large upload through the proxy", mustReq(t, "POST", ts.URL+"/comfy/p1/upload/image", strings.Repeat("x", 5000)), cookie, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cookie != nil {
				tc.req.AddCookie(&http.Cookie{Name: tc.cookie.Name, Value: tc.cookie.Value})
			}
			resp, _ := do(t, tc.req)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	if gotLen != 5000 {
		t.Fatalf("proxied upload arrived with %d bytes, want 5000", gotLen)
	}
}

func mustReq(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}
