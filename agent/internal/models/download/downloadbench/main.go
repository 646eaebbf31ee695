// Command downloadbench is the helper of scripts/bench/download.sh (it lives here because it
// imports internal packages): "serve" runs the loopback
// fault-injection file server (no faults) and prints its URL; "fetch" runs the agent's
// downloader against a URL into a store directory and prints elapsed seconds, throughput and
// its own peak RSS (VmHWM), so the script can compare it with curl in the same run; "hash"
// times the sha256 of bytes in memory, the floor of a verified download on this machine.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: downloadbench serve -size BYTES | fetch -url URL -dir DIR [-conns MAX] [-initial N] [-sha HEX] [-cpuprofile F] [-trace F] | hash -size BYTES")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		size := fs.Int64("size", 512<<20, "file size in bytes")
		fs.Parse(os.Args[2:])
		s := faultserver.NewFile(*size, 7)
		fmt.Printf("%s %s\n", s.URL(), s.SHA256())
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		<-ctx.Done()
		s.Close()
	case "fetch":
		fs := flag.NewFlagSet("fetch", flag.ExitOnError)
		url := fs.String("url", "", "URL")
		dir := fs.String("dir", "", "store directory")
		conns := fs.Int("conns", 8, "most connections per file")
		initial := fs.Int("initial", 1, "connections at the start")
		sha := fs.String("sha", "", "expected sha256")
		cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the fetch to this file")
		traceFile := fs.String("trace", "", "write an execution trace of the fetch to this file")
		fs.Parse(os.Args[2:])
		if *traceFile != "" {
			stop, err := startTrace(*traceFile)
			if err != nil {
				fmt.Fprintln(os.Stderr, "fetch:", err)
				os.Exit(1)
			}
			defer stop()
		}
		if *cpuProfile != "" {
			stop, err := startCPUProfile(*cpuProfile)
			if err != nil {
				fmt.Fprintln(os.Stderr, "fetch:", err)
				os.Exit(1)
			}
			defer stop()
		}
		os.MkdirAll(filepath.Join(*dir, ".partial"), 0o755)
		d := download.New(download.Options{MaxConnections: *conns, InitialConnections: *initial, ParallelMinSize: 64 << 20})
		req := download.Request{URL: *url, SHA256: *sha, Dest: filepath.Join(*dir, "checkpoints", "bench.safetensors"),
			Part: filepath.Join(*dir, ".partial", "bench.part")}
		start := time.Now()
		res, err := d.Download(context.Background(), req, download.FileState(filepath.Join(*dir, ".partial", "bench.json")), nil, 3, nil)
		el := time.Since(start)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fetch:", err)
			os.Exit(1) // no profile of a failed fetch
		}
		fmt.Printf("seconds=%.3f mib_per_s=%.1f peak_rss_kib=%d connections=%d sha256=%s\n", el.Seconds(), float64(res.Size)/el.Seconds()/(1<<20), peakRSS(), res.Connections, res.SHA256)
	case "hash":
		// The floor of a verified download on this machine: the sha256 of that many bytes
		// already in memory, with the downloader's hash and buffer size.
		fs := flag.NewFlagSet("hash", flag.ExitOnError)
		size := fs.Int64("size", 512<<20, "bytes to hash")
		fs.Parse(os.Args[2:])
		buf := make([]byte, 256<<10)
		rand.Read(buf)
		h := sha256.New()
		start := time.Now()
		for n := int64(0); n < *size; n += int64(len(buf)) {
			h.Write(buf[:min(int64(len(buf)), *size-n)])
		}
		h.Sum(nil)
		fmt.Printf("seconds=%.3f\n", time.Since(start).Seconds())
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}

// startCPUProfile profiles the process into path until the returned function runs.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// startTrace writes an execution trace into path until the returned function runs.
func startTrace(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	if err := trace.Start(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("trace: %w", err)
	}
	return func() { trace.Stop(); f.Close() }, nil
}

// peakRSS reads VmHWM (peak resident set) from /proc/self/status, in KiB.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			var n int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &n)
			return n
		}
	}
	return -1
}
