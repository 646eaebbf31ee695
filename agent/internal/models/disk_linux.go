//go:build linux

package models

import "syscall"

// diskUsage reports the filesystem holding dir as psutil.disk_usage does.
func diskUsage(dir string) (total, used, free uint64, err error) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		return 0, 0, 0, err
	}
	bs := uint64(s.Bsize)
	return s.Blocks * bs, (s.Blocks - s.Bfree) * bs, s.Bavail * bs, nil
}
