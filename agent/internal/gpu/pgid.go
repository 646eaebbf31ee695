package gpu

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procPGID returns the process group of pid from /proc/<pid>/stat. The comm field may hold
// spaces and parentheses, so fields are counted after its last ')'.
func procPGID(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatPGID(string(b))
}

// parseStatPGID extracts field 5 (pgrp) of a /proc/<pid>/stat line.
func parseStatPGID(stat string) (int, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat line %q", stat)
	}
	// After "pid (comm)": state ppid pgrp ...
	f := strings.Fields(stat[i+1:])
	if len(f) < 3 {
		return 0, fmt.Errorf("malformed stat line %q", stat)
	}
	return strconv.Atoi(f[2])
}
