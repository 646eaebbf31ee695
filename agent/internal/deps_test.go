// Package internal_test guards the agent's import graph: domain packages know nothing of the
// transports (WebSocket hub, reverse proxy, dashboard) nor of the API server (their handlers live
// in <domain>http adapter packages), and configuration parsing pulls in no HTTP.
// It runs `go list` and fails, never skips, when the go tool is missing: a guard that can skip
// guards nothing.
package internal_test

import (
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const mod = "github.com/comfylauncher/launcher/"

// transport packages deliver the domain to clients; only they (and app, which wires
// everything) may import each other.
var transport = map[string]bool{
	"agent/internal/api":   true,
	"agent/internal/hub":   true,
	"agent/internal/proxy": true,
	"agent/internal/web":   true,
	"agent/internal/app":   true,
	// metrics observes every component, the hub's client counts included.
	"agent/internal/metrics": true,
	"agent/cmd/launcher":     true,
}

// transportDeps are what no domain package may depend on, directly or through another package.
var transportDeps = []string{
	mod + "agent/internal/hub",
	mod + "agent/internal/proxy",
	mod + "agent/internal/web",
	mod + "agent/internal/app",
	"github.com/gorilla/websocket",
	"net/http/httptest",
}

// serverDeps are what only transports and HTTP adapters may depend on: the API server
// package and its router. A domain package's HTTP handlers live in an adapter next to it.
var serverDeps = []string{mod + "agent/internal/api", "github.com/julienschmidt/httprouter"}

// adapter reports whether pkg is an HTTP adapter of a domain package (projecthttp,
// recoveryhttp, modelshttp, ...): it turns the domain into routes and may use the API server.
func adapter(pkg string) bool {
	return strings.HasSuffix(pkg[strings.LastIndex(pkg, "/")+1:], "http")
}

// noHTTP must not depend on net/http at all: parsing launcher.toml is not a network matter.
var noHTTP = []string{"agent/internal/config", "agent/internal/events", "agent/internal/gpu/gpupref", "agent/internal/comfy", "agent/internal/atomicfile", "agent/internal/bytesize"}

// testSupport packages are fixtures for tests (loopback servers, fixture builders, end-to-end
// harnesses); they may use httptest and the app.
func testSupport(pkg string) bool {
	base := pkg[strings.LastIndex(pkg, "/")+1:]
	return strings.HasSuffix(base, "test") || strings.HasSuffix(base, "bench") ||
		base == "faultserver" || base == "e2e" || base == "makefixtures"
}

// depGraph maps each agent package (relative to the module) to its transitive dependencies.
func depGraph(t *testing.T) map[string]map[string]bool {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the dependency guard needs the go tool on PATH: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}", mod+"agent/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	g := map[string]map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		deps := map[string]bool{}
		for _, d := range f[1:] {
			deps[d] = true
		}
		g[strings.TrimPrefix(f[0], mod)] = deps
	}
	if len(g) < 10 || g["agent/internal/config"] == nil {
		t.Fatalf("go list returned %d packages, without config: %s", len(g), out)
	}
	return g
}

func TestDomainPackagesKnowNoTransport(t *testing.T) {
	g := depGraph(t)
	pkgs := make([]string, 0, len(g))
	for p := range g {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	checked := 0
	for _, p := range pkgs {
		if transport[p] || testSupport(p) {
			continue
		}
		checked++
		for _, bad := range transportDeps {
			if g[p][bad] {
				t.Errorf("%s depends on %s: publish through events.Publisher and let app wire the transport", p, bad)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d domain packages checked", checked)
	}
	// Every domain package, not a list that can forget a new one.
	for _, p := range pkgs {
		if transport[p] || testSupport(p) || adapter(p) {
			continue
		}
		for _, bad := range serverDeps {
			if g[p][bad] {
				t.Errorf("%s depends on %s: move its handlers into an HTTP adapter package (%shttp)", p, bad, p[strings.LastIndex(p, "/")+1:])
			}
		}
	}
	for _, p := range []string{"agent/internal/recovery", "agent/internal/project", "agent/internal/models", "agent/internal/gpu", "agent/internal/workflow"} {
		if _, ok := g[p]; !ok {
			t.Errorf("%s is not in the module any more: update the guard", p)
		}
	}
	for _, p := range noHTTP {
		for _, bad := range []string{"net/http", mod + "agent/internal/api", mod + "agent/internal/apierr"} {
			if g[p][bad] {
				t.Errorf("%s depends on %s: configuration parsing must not pull HTTP in", p, bad)
			}
		}
	}
}
