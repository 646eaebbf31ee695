// Package bytesize formats byte counts for people, one way for the API and the CLI.
package bytesize

import "fmt"

var units = []string{"B", "KB", "MB", "GB", "TB", "PB"}

// Format writes n 1024-based with two decimals, as the spec's examples do: "1.50 GB".
func Format(n int64) string {
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.2f %s", f, units[i])
}
