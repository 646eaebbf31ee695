package gpu

import (
	"syscall"
	"testing"
)

func selfPGID(t *testing.T) int {
	t.Helper()
	return syscall.Getpgrp()
}
