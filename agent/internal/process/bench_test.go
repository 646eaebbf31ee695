package process

import (
	"context"
	"fmt"
	"net/http"
	"os"
	osexec "os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
)

// BenchmarkStartToReady measures Start until ready with the fake at FAKE_COMFYUI_DELAY=0.5;
// overhead-ms is total minus the delay (Python start-up included). The baseline sub-benchmark
// spawns the same fake without the supervisor and polls every millisecond, so
// supervised minus baseline is what the supervisor adds.
//
//	go test -run '^$' -bench StartToReady -benchtime 5x ./agent/internal/process/
func BenchmarkStartToReady(b *testing.B) {
	const delay = 500 * time.Millisecond
	b.Run("supervised", func(b *testing.B) {
		s := New(nil, Hooks{}, Options{})
		var total time.Duration
		for i := 0; i < b.N; i++ {
			spec := testSpec(b, "bench", map[string]string{"FAKE_COMFYUI_DELAY": "0.5"})
			t0 := time.Now()
			if _, err := s.Start(context.Background(), spec); err != nil {
				b.Fatal(err)
			}
			total += time.Since(t0)
			b.StopTimer()
			if err := s.Stop(context.Background(), "bench"); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		avg := total / time.Duration(b.N)
		b.ReportMetric(float64(avg.Milliseconds()), "ready-ms")
		b.ReportMetric(float64((avg - delay).Milliseconds()), "overhead-ms")
	})
	b.Run("baseline", func(b *testing.B) {
		dir := fakeDir(b)
		var total time.Duration
		for i := 0; i < b.N; i++ {
			port := projecttest.FreePort(b)
			t0 := time.Now()
			cmd := osexec.Command("python3", "main.py", "--listen", "127.0.0.1", "--port", strconv.Itoa(port), "--cpu")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "FAKE_COMFYUI_DELAY=0.5")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			url := "http://127.0.0.1:" + strconv.Itoa(port) + "/system_stats"
			for {
				if resp, err := http.Get(url); err == nil {
					resp.Body.Close()
					break
				}
				time.Sleep(time.Millisecond)
			}
			total += time.Since(t0)
			b.StopTimer()
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			b.StartTimer()
		}
		avg := total / time.Duration(b.N)
		b.ReportMetric(float64(avg.Milliseconds()), "ready-ms")
		b.ReportMetric(float64((avg - delay).Milliseconds()), "overhead-ms")
	})
}

// BenchmarkSupervise20 starts 20 fakes under one supervisor, lets it tail and watch them for
// a few seconds, and reports the resident memory of this (supervising) process and its
// goroutines. Run it once:
//
//	go test -run '^$' -bench Supervise20 -benchtime 1x ./agent/internal/process/
func BenchmarkSupervise20(b *testing.B) {
	const n = 20
	for i := 0; i < b.N; i++ {
		var mu sync.Mutex
		lines := 0
		s := New(nil, Hooks{OnLog: func(string, LogLine) { mu.Lock(); lines++; mu.Unlock() }}, Options{})
		rssBefore := rssKB(b)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for j := 0; j < n; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				spec := testSpec(b, fmt.Sprintf("p%02d", j), map[string]string{"FAKE_COMFYUI_DELAY": "0.5"})
				spec.Args = append(spec.Args, "--verbose")
				if _, err := s.Start(context.Background(), spec); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		time.Sleep(3 * time.Second) // steady state: tail loops and timers running
		runtime.GC()
		rss := rssKB(b)
		b.ReportMetric(float64(rss)/1024, "rss-MB")
		b.ReportMetric(float64(rss-rssBefore)/1024, "rss-delta-MB")
		b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		s.StopAll(ctx)
		cancel()
	}
}

func rssKB(b *testing.B) int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc")
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	return 0
}
