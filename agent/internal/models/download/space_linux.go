//go:build linux

package download

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// FreeSpace reports the bytes available to unprivileged users and the size of the filesystem
// holding dir.
func FreeSpace(dir string) (free, total uint64, err error) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		return 0, 0, err
	}
	return s.Bavail * uint64(s.Bsize), s.Blocks * uint64(s.Bsize), nil
}

// fallocate reserves [off, off+n) without changing the file size, so checkpoints and resume
// offsets keep meaning "bytes written".
func fallocate(f File, off, n int64) {
	_ = unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, off, n)
}

// startWriteback asks the kernel to begin writing [off, off+n) to disk without waiting, so
// dirty pages never pile up: the checkpoints' fsync then has little left to do and writers
// are not throttled by a burst of writeback.
func startWriteback(f File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// evictWritten waits until the kernel has written [off, off+n) to the device (written, not
// made durable: the checkpoints' fsync does that) and evicts it from the page cache. A model
// is mostly written once and read much later, so caching what was written takes memory from
// ComfyUI and the rest of the machine, and every write takes a fresh page: reusing a few
// evicted ones halved the CPU of the writes on the 2-core test VM. downloads.keep_cached
// turns this off. The wait also keeps a download from running ahead of a disk slower than
// the network.
func evictWritten(f File, off, n int64) {
	const wait = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
	if unix.SyncFileRange(int(f.Fd()), off, n, wait) == nil {
		_ = unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED)
	}
}
