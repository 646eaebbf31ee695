package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// fakeSystemd listens where systemd would and returns the datagrams it receives.
func fakeSystemd(t *testing.T, name string) (*net.UnixConn, string) {
	t.Helper()
	addr := &net.UnixAddr{Name: name, Net: "unixgram"}
	conn, err := net.ListenUnixgram("unixgram", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, name
}

func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no datagram arrived: %v", err)
	}
	return string(buf[:n])
}

func TestNotifySendsReadyToTheSocket(t *testing.T) {
	conn, path := fakeSystemd(t, filepath.Join(t.TempDir(), "notify"))
	t.Setenv("NOTIFY_SOCKET", path)
	sent, err := Notify(Ready)
	if err != nil || !sent {
		t.Fatalf("Notify = %v, %v", sent, err)
	}
	if got := receive(t, conn); got != "READY=1" {
		t.Fatalf("systemd received %q, want READY=1", got)
	}
}

func TestNotifyAbstractSocket(t *testing.T) {
	name := "launcher-test-" + filepath.Base(t.TempDir())
	conn, _ := fakeSystemd(t, "\x00"+name)
	sent, err := NotifySocket("@"+name, Stopping)
	if err != nil || !sent {
		t.Fatalf("NotifySocket = %v, %v", sent, err)
	}
	if got := receive(t, conn); got != "STOPPING=1" {
		t.Fatalf("received %q", got)
	}
}

func TestNotifyWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := Notify(Ready); sent || err != nil {
		t.Fatalf("Notify without $NOTIFY_SOCKET = %v, %v; want nothing sent, no error", sent, err)
	}
	if _, err := NotifySocket(filepath.Join(t.TempDir(), "missing"), Ready); err == nil {
		t.Fatal("a socket that does not exist is not an error")
	}
}
