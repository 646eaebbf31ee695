package process

import (
	"net"
	"os/exec"
	"runtime"
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

	// A group that is dying holds no listener: its zombie, and then no process at all, must
	// read as "not ours", never "unknown" (the caller trusts the port on unknown, and a child
	// that just failed to bind is a zombie until it is reaped: the CI flake of
	// TestStartFailureCauses/port_answered_by_another_server).
	dying := exec.Command("true")
	dying.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := dying.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := dying.Process.Pid
	for st, err := readProcStat(pgid); err == nil && st.State != 'Z'; st, err = readProcStat(pgid) {
		runtime.Gosched() // wait until it has exited and is not yet reaped
	}
	if ours, err := groupListensOn(pgid, port); err != nil || ours {
		t.Errorf("zombie group: ours=%v err=%v, want false, nil", ours, err)
	}
	dying.Wait()
	if ours, err := groupListensOn(pgid, port); err != nil || ours {
		t.Errorf("group with no process left: ours=%v err=%v, want false, nil", ours, err)
	}
}
