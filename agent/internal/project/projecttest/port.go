package projecttest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// handedOut remembers every port FreePort returned in this test binary, and holds the lock
// file that reserves it against the other test binaries of the same `go test ./...` run.
var handedOut struct {
	sync.Mutex
	ports map[int]*os.File
}

// FreePort returns a loopback port that is free now and that no other FreePort caller on this
// machine holds: not one earlier call in this test binary returned, nor one another test binary
// running at the same time reserved.
//
// A port from the kernel (Listen on :0) is not enough: it is free again once the listener
// closes, so another test binary's kernel-assigned port, or its FreePort, can be the same one
// before our ComfyUI binds it. FreePort therefore picks below the kernel's ephemeral range,
// which the kernel never hands out for port 0, and reserves each port with an flock on a file
// in the temp directory: the lock lasts as long as the test binary, and dies with it.
func FreePort(t testing.TB) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	if handedOut.ports == nil {
		handedOut.ports = map[int]*os.File{}
	}
	lo, hi := reservableRange()
	// One directory per user: another user's directory may not be writable to us.
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("comfylauncher-test-ports-%d", os.Getuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatalf("port reservations: %v", err)
	}
	for try := 0; try < 4*(hi-lo); try++ {
		port := lo + rand.IntN(hi-lo)
		if handedOut.ports[port] != nil {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			t.Fatalf("port reservations: %v", err)
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close() // another test binary holds it
			continue
		}
		if !bindable(port) {
			f.Close() // something that is not a test listens on it
			continue
		}
		handedOut.ports[port] = f
		return port
	}
	t.Fatalf("no free port in %d..%d", lo, hi-1)
	return 0
}

// reservableRange is the 10,000 ports below the ephemeral range (32768 by default), above the
// fixed ranges tests configure (the default [ports] 4001..4100, the e2e 20000..20999).
func reservableRange() (lo, hi int) {
	hi = 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				hi = n
			}
		}
	}
	lo = max(hi-10000, 21000)
	if hi-lo < 1000 {
		lo, hi = 40000, 50000 // an unusual ephemeral range: bind probes and locks still apply
	}
	return lo, hi
}

func bindable(port int) bool {
	for _, addr := range []string{"127.0.0.1", "[::1]"} {
		ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", addr, port))
		if err != nil {
			if addr == "[::1]" && !errors.Is(err, syscall.EADDRINUSE) {
				continue // no IPv6 loopback here
			}
			return false
		}
		ln.Close()
	}
	return true
}
