package app

import (
	"github.com/comfylauncher/launcher/agent/internal/recovery/selftest"
	"github.com/comfylauncher/launcher/agent/internal/recovery/selftest/selftesthttp"
)

// wireSelfTest serves the recovery self-test, scenario, validate and benchmark endpoints for the agent's
// runner as configured; their scratch stores live in its ScratchDir (<data_dir>/tmp).
func (a *App) wireSelfTest() {
	d := a.cfg.Downloads
	p := selftest.New(a.recovery, selftest.Downloads{PerHostConnections: d.PerHostConnections, BreakerThreshold: d.BreakerThreshold,
		BreakerCooldown: d.BreakerCooldown.Duration}, a.log.With("component", "recovery-selftest"))
	selftesthttp.Routes(a.api.Router, p)
}
