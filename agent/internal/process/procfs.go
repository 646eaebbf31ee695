package process

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// procStat is what the supervisor reads from /proc/<pid>/stat.
type procStat struct {
	State     byte   // R, S, D, Z, ...
	PGrp      int    // field 5, the process group
	StartTime uint64 // field 22, clock ticks after boot
}

// errNoProcess means the pid does not exist (or is a zombie, which counts as dead).
var errNoProcess = errors.New("no such process")

// readProcStat parses /proc/<pid>/stat. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return procStat{}, errNoProcess
		}
		return procStat{}, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("parse stat of pid %d: no ')'", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("parse stat of pid %d: %d fields", pid, len(f))
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("parse start time of pid %d: %w", pid, err)
	}
	pgrp, err := strconv.Atoi(f[2]) // field 5
	if err != nil {
		return procStat{}, fmt.Errorf("parse process group of pid %d: %w", pid, err)
	}
	return procStat{State: f[0][0], PGrp: pgrp, StartTime: st}, nil
}

// alive reports whether pid runs (not a zombie) with the given start time.
func alive(pid int, startTime uint64) bool {
	st, err := readProcStat(pid)
	return err == nil && st.State != 'Z' && st.StartTime == startTime
}

// signalGroup sends sig to process group pgid; a group that is already gone is not an error.
func signalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 1 {
		return fmt.Errorf("refusing to signal process group %d", pgid)
	}
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal group %d: %w", pgid, err)
	}
	return nil
}

// errOwnerUnknown means /proc cannot tell who listens on a port: not Linux, /proc/net hidden, or
// a live member of the group whose descriptors we may not read. Callers then trust the answer
// on the port, as before.
var errOwnerUnknown = errors.New("owner of the listener unknown")

// groupListensOn reports whether a process of group pgid holds the listening TCP socket on port
// (IPv4 or IPv6, any address). A server that answers on a leased port is ours only if it is:
// another program (another agent's ComfyUI, a test fixture) may have bound the port between the
// lease and our child's bind, and our child then exits with "address already in use".
//
// A member that is a zombie or vanishes while we look holds no sockets, so it counts as not
// listening: a group that is dying (our child just failed to bind) is never "unknown", or the
// caller would take the foreign server for ours in the moment before the exit is reaped.
func groupListensOn(pgid, port int) (bool, error) {
	inodes, err := listeningInodes(port)
	if err != nil || len(inodes) == 0 {
		return false, errOwnerUnknown
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false, errOwnerUnknown
	}
	hidden := false
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readProcStat(pid); err != nil || st.PGrp != pgid || st.State == 'Z' {
			continue
		}
		fds, err := os.ReadDir("/proc/" + e.Name() + "/fd")
		if err != nil {
			hidden = hidden || errors.Is(err, os.ErrPermission)
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink("/proc/" + e.Name() + "/fd/" + fd.Name())
			if err == nil && strings.HasPrefix(link, "socket:[") && inodes[strings.TrimSuffix(link[len("socket:["):], "]")] {
				return true, nil
			}
		}
	}
	if hidden {
		return false, errOwnerUnknown
	}
	return false, nil
}

// listeningInodes returns the socket inodes of the TCP listeners on port, from /proc/net/tcp
// and /proc/net/tcp6 (columns: sl local_address rem_address st ... inode; state 0A is LISTEN).
func listeningInodes(port int) (map[string]bool, error) {
	want := fmt.Sprintf(":%04X", port)
	inodes := map[string]bool{}
	read := 0
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		read++
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 9 && f[3] == "0A" && strings.HasSuffix(f[1], want) {
				inodes[f[9]] = true
			}
		}
	}
	if read == 0 {
		return nil, errOwnerUnknown
	}
	return inodes, nil
}
