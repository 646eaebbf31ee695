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
	return procStat{State: f[0][0], StartTime: st}, nil
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
