package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeTellsSystemdItStopsBeforeReturning: when serve returns, systemd already has
// STOPPING=1. The notifier used to be a goroutine left running at exit, so on a busy machine
// the process could end before it sent (TestProjectLifeThroughCLI timed out waiting once).
// The check reads the socket without waiting: the datagram is queued or it is not.
func TestServeTellsSystemdItStopsBeforeReturning(t *testing.T) {
	notifyPath := filepath.Join(t.TempDir(), "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	t.Setenv("NOTIFY_SOCKET", notifyPath)
	cfg := writeTestConfig(t, filepath.Join(t.TempDir(), "data"))

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--config", cfg}, &stdout, &stderr) }()
	buf := make([]byte, 64)
	notify.SetReadDeadline(time.Now().Add(60 * time.Second))
	if n, err := notify.Read(buf); err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("got %q, %v; want READY=1\n%s", buf[:n], err, stderr.String())
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
	raw, err := notify.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var rerr error
	raw.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
		return true // one try: never wait for readiness
	})
	if rerr != nil || !strings.HasPrefix(string(buf[:max(n, 0)]), "STOPPING=1") {
		t.Fatalf("after serve returned the socket holds %q (%v); want STOPPING=1 already sent", buf[:max(n, 0)], rerr)
	}
}
