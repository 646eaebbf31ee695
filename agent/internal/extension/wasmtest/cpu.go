package wasmtest

import (
	"syscall"
	"testing"
	"time"
)

// ReportCPU runs b's loop body fn and reports, besides wall time, the process CPU time per
// operation ("cpu-ns/op"). On a machine shared with other work the wall time of a
// single-threaded call includes waiting for a core; its CPU time does not, so it is the number
// to compare with the goals.
func ReportCPU(b *testing.B, fn func()) {
	b.Helper()
	start := cpuTime()
	n := 0
	for b.Loop() {
		fn()
		n++
	}
	if n > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(n), "cpu-ns/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
