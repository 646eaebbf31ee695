package download_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
)

// BenchmarkDownload fetches a 256 MiB file from the loopback server (sha256 verified, fsynced,
// published) with one and four connections. Reported: MB/s and the heap in use after the run,
// which must not grow with the file size (the body is streamed through a fixed buffer).
// scripts/bench/download.sh compares the same path against curl, with peak RSS.
func BenchmarkDownload(b *testing.B) {
	const size = 256 << 20
	s := faultserver.NewFile(size, 3)
	defer s.Close()
	sha := s.SHA256()
	for _, conns := range []int{1, 4} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			b.SetBytes(size)
			d := download.New(download.Options{MaxConnections: conns, InitialConnections: conns, ParallelMinSize: 64 << 20})
			for i := 0; i < b.N; i++ {
				dir := b.TempDir()
				os.MkdirAll(filepath.Join(dir, ".partial"), 0o755)
				req := download.Request{URL: s.URL(), SHA256: sha, Dest: filepath.Join(dir, "m.safetensors"), Part: filepath.Join(dir, ".partial", "m.part")}
				if _, err := d.Fetch(context.Background(), req, download.FileState(filepath.Join(dir, ".partial", "m.json")), nil); err != nil {
					b.Fatal(err)
				}
				os.RemoveAll(dir)
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
		})
	}
}
