package recovery

import "github.com/comfylauncher/launcher/agent/internal/apierr"

// TestSlot makes the heavy test endpoints (self-test, scenarios, validate, benchmark) exclusive
// so one client cannot stack them; call release when done. A busy slot is a Conflict.
func (r *Runner) TestSlot() (release func(), err error) {
	if !r.testBusy.CompareAndSwap(false, true) {
		return nil, apierr.New(apierr.Conflict, "TestAlreadyRunningError", "another recovery test or benchmark is running",
			"Wait for it to finish; each run is capped by [recovery] max_test_duration")
	}
	return func() { r.testBusy.Store(false) }, nil
}
