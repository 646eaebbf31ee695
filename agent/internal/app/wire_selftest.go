package app

import (
	"path/filepath"

	"github.com/comfylauncher/launcher/agent/internal/recovery/selftest"
)

// wireSelfTest serves the measured recovery endpoints (validate, benchmark) for the agent's
// runner as configured; their scratch stores live under <data_dir>/tmp.
func (a *App) wireSelfTest() {
	p := selftest.New(a.recovery, filepath.Join(a.cfg.Paths.DataDir, "tmp"), a.log.With("component", "recovery-selftest"))
	p.Routes(a.api.Router)
}
