package selftest

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procSample is the agent process's resource use at one moment: CPU time from getrusage, RSS
// from /proc/self/status, disk bytes from /proc/self/io and the Go heap.
type procSample struct {
	at       time.Time
	cpu      time.Duration
	rssBytes int64
	ioBytes  int64
	ioOK     bool
	heap     uint64
}

func sampleProc() procSample {
	s := procSample{at: time.Now()}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if v, ok := procField("/proc/self/status", "VmRSS:"); ok {
		s.rssBytes = v * 1024 // kB
	}
	r, rok := procField("/proc/self/io", "read_bytes:")
	w, wok := procField("/proc/self/io", "write_bytes:")
	if rok && wok {
		s.ioBytes, s.ioOK = r+w, true
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.heap = ms.HeapInuse
	return s
}

// procField reads the first number after key in a /proc "key: value" file.
func procField(path, key string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, key) {
			continue
		}
		fields := strings.Fields(line[len(key):])
		if len(fields) == 0 {
			return 0, false
		}
		v, err := strconv.ParseInt(fields[0], 10, 64)
		return v, err == nil
	}
	return 0, false
}

// cpuPercent is the CPU the process used between a and b, in percent of one core.
func cpuPercent(a, b procSample) float64 {
	wall := b.at.Sub(a.at)
	if wall <= 0 {
		return 0
	}
	return 100 * float64(b.cpu-a.cpu) / float64(wall)
}
