//go:build !linux

package download

import "errors"

// FreeSpace is unknown off Linux; downloads then rely on ENOSPC handling alone.
func FreeSpace(dir string) (free, total uint64, err error) {
	return 0, 0, errors.New("free space unknown on this platform")
}

func fallocate(f File, off, n int64) {}

func startWriteback(File, int64, int64) {}

func evictWritten(File, int64, int64) {}
