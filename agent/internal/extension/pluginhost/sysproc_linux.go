package pluginhost

import (
	"os/exec"
	"syscall"
)

// dieWithAgent makes the kernel kill the plugin when the agent dies, even by SIGKILL (the
// plugin SDK also exits when its parent changes, for other systems).
func dieWithAgent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
