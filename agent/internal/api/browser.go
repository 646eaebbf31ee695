package api

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// This file is the agent's one rule for requests a browser may have sent on behalf of another
// web site. The middleware applies it to every route (the API, the reverse proxy to ComfyUI and
// Socket.IO), and the hub and the proxy ask it again before they upgrade or forward.
//
//   - Host: while the agent runs without a token, only loopback names and addresses
//     (localhost, 127.0.0.0/8, ::1) and the names of server.allowed_hosts are served, so a
//     DNS-rebound name cannot reach the API from a foreign page.
//   - Origin: a request that changes state (any method but GET, HEAD and OPTIONS) and every
//     WebSocket or Socket.IO handshake must come from the agent's own origin or one of
//     server.cors_origins. Without an Origin, a browser's Referer is used when Sec-Fetch-Site
//     says the request is not same-origin. Clients that send neither (curl, scripts, the CLI)
//     are not affected.

// CheckBrowser applies the Host and Origin rule to r: nil when it may be served, else a 403
// *apierr.Error that names the host or origin and the config key that allows it.
func (s *Server) CheckBrowser(r *http.Request) error {
	if !s.hostAllowed(r.Host) {
		return apierr.Newf(apierr.Forbidden, "HostNotAllowedError",
			"host %q is not allowed: without an API token the agent answers only to loopback names (localhost, 127.0.0.1, ::1)", r.Host).
			Suggest("Add the name to server.allowed_hosts in launcher.toml if you reach the agent under it",
				"Or configure server.token or server.token_file: with a token every host name is served")
	}
	if !needsOrigin(r) {
		return nil
	}
	if origin, ok := s.originOK(r); !ok {
		return apierr.Newf(apierr.Forbidden, "CrossOriginError", "cross-origin request %s %s from %s refused", r.Method, r.URL.Path, origin).
			Suggest("Add the page's origin to server.cors_origins in launcher.toml, e.g. [\"http://localhost:3000\"]",
				"Clients that send no Origin header (curl, scripts, the launcher CLI) are not affected")
	}
	return nil
}

// OriginAllowed reports whether r passes CheckBrowser; the hub's WebSocket upgrader uses it.
func (s *Server) OriginAllowed(r *http.Request) bool { return s.CheckBrowser(r) == nil }

func (s *Server) guardBrowser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.CheckBrowser(r); err != nil {
			WriteError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// needsOrigin: requests that change state, and handshakes of long-lived connections.
func needsOrigin(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return isUpgrade(r) || strings.HasPrefix(r.URL.Path, "/socket.io/")
	}
	return true
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// originOK returns the origin the request came from ("" when none is known) and whether it is
// allowed.
func (s *Server) originOK(r *http.Request) (string, bool) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		switch r.Header.Get("Sec-Fetch-Site") {
		case "cross-site", "same-site":
			ref, err := url.Parse(r.Header.Get("Referer"))
			if err != nil || ref.Host == "" {
				return "a page of another site (no Origin or Referer)", false
			}
			origin = ref.Scheme + "://" + ref.Host
		default:
			return "", true // not a browser, or a same-origin request of one
		}
	}
	if s.originAllowed(origin) {
		return origin, true
	}
	u, err := url.Parse(origin)
	return origin, err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// hostAllowed: any host when a token is configured; else loopback names and addresses and
// server.allowed_hosts. An empty Host (HTTP/1.0, in-process requests) cannot come from a
// browser and is allowed.
func (s *Server) hostAllowed(hostport string) bool {
	if s.opts.Token != "" || hostport == "" {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, h := range s.opts.AllowedHosts {
		if h == "*" || strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// isPreflight reports whether r is a CORS preflight.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// preflightPath: only the API and Socket.IO answer CORS preflights (and so skip auth for
// them); a preflight of /comfy/ is an OPTIONS request like any other.
func preflightPath(path string) bool {
	return strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/socket.io/")
}
