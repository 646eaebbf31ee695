package app

import "github.com/comfylauncher/launcher/agent/internal/recovery/selftest"

// wireSelfTest serves the measured recovery endpoints (validate, benchmark) for the agent's
// runner as configured; their scratch stores live in its ScratchDir (<data_dir>/tmp).
func (a *App) wireSelfTest() {
	p := selftest.New(a.recovery, a.log.With("component", "recovery-selftest"))
	p.Routes(a.api.Router)
}
