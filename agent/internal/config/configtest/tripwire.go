package configtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Tripwire makes a fetch from beyond loopback fail at once, and loudly, in this test binary and
// every process it starts (the agent binary, git, pip): it points the proxy variables at a
// loopback server that refuses every request (a 502 naming the host) and remembers where each
// was going. Loopback requests never go through a proxy, so fixtures are unaffected; nothing
// waits on DNS, as the proxy, not the client, would resolve the host. Call it first thing in
// TestMain (the Go client reads the variables once); the returned check names the hosts tried.
func Tripwire() (check func() error) {
	var mu sync.Mutex
	var hosts []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if !slices.Contains(hosts, r.Host) {
			hosts = append(hosts, r.Host)
		}
		mu.Unlock()
		http.Error(w, "no internet in tests: "+r.Host+" is not a loopback fixture", http.StatusBadGateway)
	}))
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"} {
		os.Setenv(k, srv.URL)
		os.Setenv(strings.ToLower(k), srv.URL)
	}
	// Loopback, and the unspecified addresses an agent listening on all interfaces reports.
	const local = "localhost,127.0.0.1,::1,0.0.0.0,::"
	os.Setenv("NO_PROXY", local)
	os.Setenv("no_proxy", local)
	return func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(hosts) > 0 {
			return fmt.Errorf("tests tried to reach the internet (no internet in tests: point them at a loopback fixture, see configtest): %s", strings.Join(hosts, ", "))
		}
		return nil
	}
}

// Run runs m's tests behind the Tripwire and returns the exit code: 1 as well when a test tried
// to reach beyond loopback, even if it passed. Use it as os.Exit(configtest.Run(m)) in TestMain.
func Run(m *testing.M) int {
	check := Tripwire()
	code := m.Run()
	if err := check(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	return code
}
