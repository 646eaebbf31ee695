//go:build linux

package download

import (
	"syscall"
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
	const keepSize = 0x01 // FALLOC_FL_KEEP_SIZE
	_ = syscall.Fallocate(int(f.Fd()), keepSize, off, n)
}

// startWriteback asks the kernel to begin writing [off, off+n) to disk without waiting, so
// dirty pages never pile up: the checkpoints' fsync then has little left to do and writers
// are not throttled by a burst of writeback.
func startWriteback(f File, off, n int64) {
	const write = 0x2 // SYNC_FILE_RANGE_WRITE
	_ = syscall.SyncFileRange(int(f.Fd()), off, n, write)
}
