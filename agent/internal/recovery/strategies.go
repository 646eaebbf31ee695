package recovery

import (
	"context"
	"errors"
	"os/exec"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// registerPolicy registers the per-class policy table as builtin.policy, the strategy asked
// last by default.
func (r *Runner) registerPolicy() {
	info := extension.Info{ID: extension.ID(extension.TransportBuiltin, "policy"), Version: "1", Transport: extension.TransportBuiltin,
		Capabilities: []sdk.Capability{sdk.CapRecoveryStrategy}}
	if _, err := r.ext.Register(context.Background(), info, r.defaultStrategy); err != nil {
		// Another runner on the same registry registered it first; decisions fall back to this
		// runner's own table anyway.
		r.log.Debug("policy strategy already registered", "err", err)
	}
}

// StrategyIDs lists the recovery strategies in the order they are asked.
func (r *Runner) StrategyIDs() []string {
	ids := []string{}
	for _, e := range r.ext.Ordered(sdk.CapRecoveryStrategy) {
		ids = append(ids, e.ID())
	}
	return ids
}

func exitCode(err error) (int, bool) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), true
	}
	return 0, false
}

func extensionInput(c Class, attempt int) sdk.StrategyInput {
	return sdk.StrategyInput{Class: string(c), Attempt: attempt}
}
