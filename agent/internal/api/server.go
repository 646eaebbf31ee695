// Package api is the agent's HTTP layer: the router, the error envelope of spec/api.md for
// every error (404 and 405 included), bearer-token auth, CORS, body limits, access logs and
// /api/health. Feature packages register their own routes on Router and use WriteJSON,
// WriteError and DecodeJSON; this package imports none of them.
package api

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/julienschmidt/httprouter"
)

// Options configures a Server.
type Options struct {
	Version     string
	Token       string // empty: auth off
	CORSOrigins []string
	// AllowedHosts are host names served besides loopback ones while Token is empty
	// (server.allowed_hosts); "*" serves any. See CheckBrowser.
	AllowedHosts []string
	MaxBody      int64
	Debug        bool
	Logger       *slog.Logger
	// Public lists path prefixes served without a token (health probes).
	Public []string
	// SelfAuth lists path prefixes whose handlers authenticate themselves (Socket.IO checks
	// the CONNECT auth payload, so its HTTP requests may arrive without a token).
	SelfAuth []string
	// CookieAuth lists path prefixes that also accept the SessionCookie, which the agent sets
	// after a token was presented there: the ComfyUI page behind the reverse proxy loads its
	// scripts, images and WebSocket without a way to add a header or ?token=.
	CookieAuth []string
	// Unlimited lists path prefixes without the body limit (proxied ComfyUI uploads; ComfyUI
	// enforces its own).
	Unlimited []string
	// Observe, when set, is told of every finished request with its route pattern
	// (e.g. /api/projects/:id; "" when no route matched): the metrics hook.
	Observe func(method, route string, status int, d time.Duration)
}

// SessionCookie carries the API token for CookieAuth paths; the proxy strips it.
const SessionCookie = "launcher_token"

// HealthFunc reports one component's health for /api/health.
type HealthFunc func() (ok bool, detail any)

// Server is the agent's HTTP handler.
type Server struct {
	Router  *httprouter.Router
	opts    Options
	log     *slog.Logger
	started time.Time

	mu     sync.Mutex
	health map[string]HealthFunc
}

// New builds the router with the envelope handlers and /api/health.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultBodyLimit
	}
	s := &Server{
		Router:  httprouter.New(),
		opts:    opts,
		log:     opts.Logger,
		started: time.Now(),
		health:  map[string]HealthFunc{},
	}
	s.Router.HandleOPTIONS = false // preflight is answered by the CORS middleware
	s.Router.NotFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, apierr.Newf(apierr.NotFound, "NotFoundError", "no route for %s %s", r.Method, r.URL.Path).
			Suggest("Check the path against spec/api.md; API routes start with /api/"))
	})
	s.Router.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, apierr.Newf(apierr.MethodNotAllowed, "MethodNotAllowedError", "method %s is not allowed on %s", r.Method, r.URL.Path).
			Suggest("Use one of: "+w.Header().Get("Allow")))
	})
	s.Router.PanicHandler = func(w http.ResponseWriter, r *http.Request, v any) {
		s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
		WriteError(w, r, apierr.Newf(apierr.Internal, "InternalError", "internal error: %v", v).
			Suggest("This is a bug in the agent; the log has details"))
	}
	s.Router.GET("/api/health", s.handleHealth)
	return s
}

// AddHealth registers a component for /api/health.
func (s *Server) AddHealth(name string, fn HealthFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health[name] = fn
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.mu.Lock()
	names := make([]string, 0, len(s.health))
	for n := range s.health {
		names = append(names, n)
	}
	fns := s.health
	s.mu.Unlock()
	sort.Strings(names)
	status := "ok"
	components := map[string]any{}
	for _, n := range names {
		ok, detail := fns[n]()
		if !ok {
			status = "degraded"
		}
		components[n] = map[string]any{"ok": ok, "detail": detail}
	}
	WriteJSON(w, http.StatusOK, map[string]any{
		"status":         status,
		"version":        s.opts.Version,
		"uptime_seconds": time.Since(s.started).Seconds(),
		"started_at":     s.started.UTC().Format(time.RFC3339),
		"components":     components,
	})
}

// Handler returns the router wrapped in access logging, the Host and Origin rule
// (CheckBrowser), CORS, body limits and auth.
func (s *Server) Handler() http.Handler {
	return s.withErrorContext(s.accessLog(s.guardBrowser(s.cors(s.limitBody(s.auth(s.Router))))))
}

func (s *Server) withErrorContext(next http.Handler) http.Handler {
	ec := errorContext{debug: s.opts.Debug, logger: s.log}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), errorContextKey{}, ec)))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Hijack and Flush (WebSocket, long polling).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack passes WebSocket upgrades through the recorder.
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("response writer does not support hijacking")
	}
	return h.Hijack()
}

func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if s.opts.Observe != nil {
			s.opts.Observe(r.Method, s.routePattern(r.Method, r.URL.Path), rec.status, time.Since(start))
		}
		level := slog.LevelInfo
		if rec.status >= 500 {
			level = slog.LevelError
		} else if r.URL.Path == "/api/health" || strings.HasPrefix(r.URL.Path, "/socket.io/") {
			level = slog.LevelDebug // probes and long polls would drown the log
		}
		s.log.Log(r.Context(), level, "http",
			"method", r.Method, "path", r.URL.Path, "status", rec.status,
			"bytes", rec.bytes, "duration_ms", time.Since(start).Milliseconds(), "remote", r.RemoteAddr)
	})
}

func (s *Server) originAllowed(origin string) bool {
	for _, o := range s.opts.CORSOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		preflight := isPreflight(r) && preflightPath(r.URL.Path)
		if origin != "" && s.originAllowed(origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Credentials", "true")
			if preflight {
				h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		} else if preflight {
			WriteError(w, r, apierr.Newf(apierr.Forbidden, "CORSError", "origin %s is not allowed", origin).
				Suggest("Add the origin to server.cors_origins in launcher.toml"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasPrefix(r.URL.Path, s.opts.Unlimited) {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > s.opts.MaxBody {
			WriteError(w, r, apierr.Newf(apierr.TooLarge, "PayloadTooLargeError",
				"request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, s.opts.MaxBody).
				Suggest("Send a smaller body, or raise server.max_body_bytes in launcher.toml"))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBody)
		}
		next.ServeHTTP(w, r)
	})
}

// TokenFromRequest returns the bearer token of the Authorization header, else ?token=.
func TokenFromRequest(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(tok)
		}
	}
	return r.URL.Query().Get("token")
}

// CheckToken compares tok with the configured token in constant time.
func (s *Server) CheckToken(tok string) bool {
	if s.opts.Token == "" {
		return true
	}
	return subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.Token)) == 1
}

func hasPrefix(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// CORS preflights of the API (sent without credentials) were answered by cors already;
		// every other OPTIONS request needs the token like any method.
		if s.opts.Token == "" ||
			hasPrefix(r.URL.Path, s.opts.Public) || hasPrefix(r.URL.Path, s.opts.SelfAuth) {
			next.ServeHTTP(w, r)
			return
		}
		cookieAuth := hasPrefix(r.URL.Path, s.opts.CookieAuth)
		if cookieAuth {
			if c, err := r.Cookie(SessionCookie); err == nil && s.CheckToken(c.Value) && TokenFromRequest(r) == "" {
				next.ServeHTTP(w, r)
				return
			}
		}
		if !s.CheckToken(TokenFromRequest(r)) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="launcher"`)
			msg := "missing API token"
			if TokenFromRequest(r) != "" {
				msg = "invalid API token"
			}
			WriteError(w, r, apierr.New(apierr.Unauthorized, "AuthenticationError", msg,
				"Send the token as 'Authorization: Bearer <token>' (or ?token= for WebSocket URLs)",
				"The token is in server.token_file of launcher.toml, or the file the agent printed at start"))
			return
		}
		if cookieAuth {
			for _, p := range s.opts.CookieAuth {
				if strings.HasPrefix(r.URL.Path, p) {
					http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: s.opts.Token, Path: p,
						HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
					break
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}
