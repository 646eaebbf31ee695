//go:build !linux

package models

import "errors"

func diskUsage(string) (total, used, free uint64, err error) {
	return 0, 0, 0, errors.New("disk usage unknown on this platform")
}
