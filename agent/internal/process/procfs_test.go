package process

import (
	"net"
	"os/exec"
	"syscall"
	"testing"
)

// TestGroupListensOn: the listener of this test process belongs to its group and to no other.
func TestGroupListensOn(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	ours, err := groupListensOn(syscall.Getpgrp(), port)
	if err == errOwnerUnknown {
		t.Skip("/proc cannot tell socket owners here")
	}
	if err != nil || !ours {
		t.Fatalf("own listener: ours=%v err=%v", ours, err)
	}
	other := exec.Command("sleep", "30")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()
	if ours, err := groupListensOn(other.Process.Pid, port); err != nil || ours {
		t.Errorf("another group: ours=%v err=%v, want false, nil", ours, err)
	}
}
