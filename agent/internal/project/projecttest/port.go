package projecttest

import (
	"net"
	"testing"
)

// FreePort is a loopback port the kernel just handed out: for a ComfyUI process or a
// project's "port", never a fixed number another run on the host may hold.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
