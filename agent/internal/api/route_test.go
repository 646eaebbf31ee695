package api

import (
	"net/http"
	"testing"

	"github.com/julienschmidt/httprouter"
)

func TestRoutePattern(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	nop := func(http.ResponseWriter, *http.Request, httprouter.Params) {}
	s.Router.GET("/api/projects/:id", nop)
	s.Router.POST("/api/projects/:id/start", nop)
	s.Router.GET("/api/models/*path", nop)
	s.Router.GET("/comfy/:project/*rest", nop)
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/api/health", "/api/health"},
		{"GET", "/api/projects/abc", "/api/projects/:id"},
		{"POST", "/api/projects/projects/start", "/api/projects/:id/start"},
		{"GET", "/api/models/checkpoints/a.safetensors", "/api/models/*path"},
		{"GET", "/comfy/p1/", "/comfy/:project/*rest"},
		{"GET", "/comfy/p1/api/view/x/", "/comfy/:project/*rest"},
		{"GET", "/no/such/route", ""},
		{"DELETE", "/api/projects/abc", ""},
	} {
		if got := s.routePattern(tc.method, tc.path); got != tc.want {
			t.Errorf("routePattern(%s %s) = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

// BenchmarkRoutePattern is the per-request cost of naming the route for metrics:
// go test -run '^$' -bench RoutePattern ./agent/internal/api/
func BenchmarkRoutePattern(b *testing.B) {
	s := New(Options{})
	nop := func(http.ResponseWriter, *http.Request, httprouter.Params) {}
	s.Router.POST("/api/projects/:id/start", nop)
	s.Router.GET("/comfy/:project/*rest", nop)
	b.ReportAllocs()
	for b.Loop() {
		s.routePattern("POST", "/api/projects/p1/start")
		s.routePattern("GET", "/comfy/p1/api/view/a/b.png")
	}
}
