package projecttest

import (
	"net"
	"sync"
	"testing"
)

// handedOut remembers every port FreePort returned in this test binary: the kernel may give a
// just-closed port out again, and two projects of one test must never share one.
var handedOut struct {
	sync.Mutex
	ports map[int]bool
}

// FreePort returns a loopback port the kernel just assigned and that no earlier call in this
// test binary returned.
func FreePort(t testing.TB) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	if handedOut.ports == nil {
		handedOut.ports = map[int]bool{}
	}
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return port
		}
	}
}
