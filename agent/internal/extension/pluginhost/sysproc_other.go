//go:build !linux

package pluginhost

import "os/exec"

// dieWithAgent has nothing to set outside Linux: the plugin SDK exits when its parent changes.
func dieWithAgent(*exec.Cmd) {}
