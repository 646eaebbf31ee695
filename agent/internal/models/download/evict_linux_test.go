package download_test

import (
	"context"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
)

// TestDownloadLeavesLittleInThePageCache: the bytes a download wrote are evicted from the page
// cache once hashed and on the device, so a model fetched once does not take the machine's
// memory (nor, in a VM, a fresh page for every write). Only the last few tens of MiB may stay.
// With KeepCached they all stay (on a machine with memory to spare, as the test machines are).
func TestDownloadLeavesLittleInThePageCache(t *testing.T) {
	const size = 160 << 20
	s := faultserver.NewFile(size, 11)
	defer s.Close()
	for _, keep := range []bool{false, true} {
		e := newEnv(t, s.URL(), s.SHA256())
		var fs unix.Statfs_t
		if err := unix.Statfs(e.dir, &fs); err == nil && fs.Type == unix.TMPFS_MAGIC {
			t.Skipf("%s is tmpfs, whose pages are the file itself and cannot be evicted", e.dir)
		}
		d := newDownloader(download.Options{KeepCached: keep})
		if _, err := d.Download(context.Background(), e.req, e.state, nil, 1, nil); err != nil {
			t.Fatal(err)
		}
		resident := residentBytes(t, e.req.Dest) // before fileSHA reads the file back in
		t.Logf("keep_cached %v: %d MiB of %d MiB resident", keep, resident>>20, size>>20)
		if !keep && resident > 64<<20 {
			t.Errorf("%d MiB of the %d MiB file still in the page cache after the download, want at most 64", resident>>20, size>>20)
		}
		if keep && resident <= 64<<20 {
			t.Errorf("keep_cached: only %d MiB of the %d MiB file in the page cache", resident>>20, size>>20)
		}
		if got := fileSHA(t, e.req.Dest); got != s.SHA256() {
			t.Fatalf("sha256 %s, want %s", got, s.SHA256())
		}
	}
}

// residentBytes is how much of the file at path the page cache holds (mincore).
func residentBytes(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (len(m)+page-1)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal("mincore:", errno)
	}
	var n int64
	for _, v := range vec {
		if v&1 != 0 {
			n += int64(page)
		}
	}
	return n
}
