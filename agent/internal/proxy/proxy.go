// Package proxy is the agent's authenticated reverse proxy to each project's ComfyUI:
// /comfy/<project_id>/<path> is forwarded to http://127.0.0.1:<port>/<path>, WebSocket
// upgrades included, so ComfyUI itself only ever listens on loopback.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/julienschmidt/httprouter"
)

// Resolver finds the loopback port of a project's ComfyUI. ok == false means the project is
// unknown (404); ok == true with port == 0 means it exists but is not running (503).
type Resolver interface {
	Target(projectID string) (port int, ok bool)
}

// Prefix is the path under which projects are proxied.
const Prefix = "/comfy/"

// Proxy forwards /comfy/<project_id>/... to the project's ComfyUI.
type Proxy struct {
	res Resolver
	log *slog.Logger
	rp  *httputil.ReverseProxy
	// check is the agent's Host and Origin rule (api.Server.CheckBrowser), applied before
	// the browser's Origin is dropped; nil checks nothing.
	check func(r *http.Request) error
}

type ctxKey struct{}

// target is what the handler resolved, passed to Rewrite through the request context.
type target struct {
	projectID string
	port      int
	rawPath   string // escaped path below the project prefix, with a leading slash
}

// New returns a proxy that resolves ports with res; logger may be nil.
func New(res Resolver, logger *slog.Logger) *Proxy {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{res: res, log: logger.With("component", "proxy")}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        rewrite,
		ModifyResponse: modifyResponse,
		ErrorHandler:   p.upstreamError,
		// Stream at once: ComfyUI sends progress and large images; buffering adds latency.
		FlushInterval: -1,
		Transport: &http.Transport{
			Proxy:               nil, // loopback only, never through an HTTP_PROXY
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		},
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return p
}

// WithCheck makes the proxy refuse, with check's error, every request check refuses (the
// agent passes api.Server.CheckBrowser: a foreign page may not post prompts or open ComfyUI's
// WebSocket through the proxy). It returns p.
func (p *Proxy) WithCheck(check func(r *http.Request) error) *Proxy {
	p.check = check
	return p
}

// Routes registers /comfy/:project_id/*path for every method, and a redirect from
// /comfy/:project_id to the same path with a trailing slash (ComfyUI's page uses relative URLs).
func (p *Proxy) Routes(r *httprouter.Router) {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodPatch, http.MethodHead, http.MethodOptions} {
		r.Handle(m, Prefix+":project_id/*path", p.serve)
		r.Handle(m, Prefix+":project_id", p.redirect)
	}
}

func (p *Proxy) redirect(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	u := *r.URL
	u.Path = Prefix + ps.ByName("project_id") + "/"
	u.RawPath = ""
	http.Redirect(w, r, u.RequestURI(), http.StatusMovedPermanently)
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	if p.check != nil {
		if err := p.check(r); err != nil {
			api.WriteError(w, r, err)
			return
		}
	}
	id := ps.ByName("project_id")
	port, ok := p.res.Target(id)
	if !ok {
		api.WriteError(w, r, apierr.Newf(apierr.NotFound, "ProjectNotFoundError", "project %s does not exist", id).
			Suggest("List projects with GET /api/projects"))
		return
	}
	if port <= 0 {
		api.WriteError(w, r, apierr.Newf(apierr.Unavailable, "ProjectNotRunningError", "ComfyUI of project %s is not running", id).
			Suggest(fmt.Sprintf("Start it with POST /api/projects/%s/start, then reload this page", id)).
			With("project_id", id))
		return
	}
	t := target{projectID: id, port: port, rawPath: belowPrefix(r.URL.EscapedPath())}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, t)))
}

// belowPrefix returns the escaped path after /comfy/<id>, always starting with "/".
func belowPrefix(escaped string) string {
	rest := strings.TrimPrefix(escaped, Prefix)
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return "/"
}

// rewrite points the outgoing request at the project's loopback port and removes what
// belongs to the agent: its credentials, and the browser's Origin, which ComfyUI's
// origin-only middleware rejects (403) because it differs from the loopback Host. The agent
// has already applied its own Origin rule (WithCheck) and auth.
func rewrite(pr *httputil.ProxyRequest) {
	t := pr.In.Context().Value(ctxKey{}).(target)
	out := pr.Out
	out.URL.Scheme = "http"
	out.URL.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(t.port))
	out.Host = ""
	if path, err := url.PathUnescape(t.rawPath); err == nil {
		out.URL.Path, out.URL.RawPath = path, t.rawPath
	} else {
		out.URL.Path, out.URL.RawPath = t.rawPath, ""
	}
	if q := out.URL.Query(); q.Has("token") {
		q.Del("token")
		out.URL.RawQuery = q.Encode()
	}
	if out.Body != nil && out.ContentLength > 0 {
		out.Body = exactBody{io.LimitReader(pr.In.Body, out.ContentLength), pr.In.Body}
	}
	out.Header.Del("Authorization")
	out.Header.Del("Origin")
	dropCookie(out, api.SessionCookie)
	pr.SetXForwarded()
	out.Header.Set("X-Forwarded-Prefix", Prefix+t.projectID)
}

// exactBody ends a request body of known length at that length without reading the inbound
// body again. The transport, having sent Content-Length bytes, reads once more to check that
// the body is not longer; when ComfyUI answers first, net/http has already closed the inbound
// body on writing our response headers, that read fails, and the transport tears down the
// upstream connection in the middle of the answer: the client got a 200 with an empty body
// (golang/go#15527, seen under load as TestProxyHTTP's "no prompt_id").
type exactBody struct {
	io.Reader
	io.Closer
}

// dropCookie removes the agent's session cookie so the token never reaches ComfyUI or its
// custom nodes.
func dropCookie(r *http.Request, name string) {
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range cookies {
		if c.Name != name {
			r.AddCookie(c)
		}
	}
}

// modifyResponse keeps redirects inside the project's prefix.
func modifyResponse(resp *http.Response) error {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil
	}
	t, ok := resp.Request.Context().Value(ctxKey{}).(target)
	if !ok {
		return nil
	}
	prefix := Prefix + t.projectID
	if u, err := url.Parse(loc); err == nil && u.IsAbs() && u.Host == resp.Request.URL.Host {
		u.Scheme, u.Host = "", ""
		loc = u.String()
	}
	if strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") {
		resp.Header.Set("Location", prefix+loc)
	}
	return nil
}

// upstreamError answers 503 when the project's port does not answer (it is starting, or
// just crashed).
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	t, _ := r.Context().Value(ctxKey{}).(target)
	if errors.Is(err, context.Canceled) {
		return // the client went away
	}
	p.log.Warn("upstream error", "project", t.projectID, "port", t.port, "err", err)
	e := apierr.Newf(apierr.Unavailable, "ComfyUIUnreachableError", "ComfyUI of project %s does not answer on port %d: %v", t.projectID, t.port, err).
		Suggest("It may still be starting or may have crashed: check the project's state and logs")
	api.WriteError(w, r, e)
}
