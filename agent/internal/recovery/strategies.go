package recovery

import (
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// strategies decides what follows a failed step: it asks the registry's recovery strategies
// in order, with the runner's per-class policy table (builtin.policy) as the answer of last
// resort.
type strategies struct {
	ext    *extension.Registry
	policy *PolicyStrategy
	rand   func() float64
	log    *slog.Logger
}

// register registers the per-class policy table as builtin.policy, the strategy asked last by
// default.
func (s *strategies) register() {
	info := extension.Info{ID: extension.ID(extension.TransportBuiltin, "policy"), Version: "1", Transport: extension.TransportBuiltin,
		Capabilities: []sdk.Capability{sdk.CapRecoveryStrategy}}
	if _, err := s.ext.Register(context.Background(), info, s.policy); err != nil {
		// Another runner on the same registry registered it first; decisions fall back to this
		// runner's own table anyway.
		s.log.Debug("policy strategy already registered", "err", err)
	}
}

// ids lists the recovery strategies in the order they are asked.
func (s *strategies) ids() []string {
	ids := []string{}
	for _, e := range s.ext.Ordered(sdk.CapRecoveryStrategy) {
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

type decision struct {
	retry bool
	delay time.Duration
	class Class
	// suggestion is the deciding strategy's advice, shown first on the operation.
	suggestion string
}

// decide asks the registry's recovery strategies in order; the first that does not answer
// "not mine" decides. A strategy that errors is skipped (and its error recorded in the
// registry): a broken extension must not stop recovery. When none decides, the policy table
// does.
func (s *strategies) decide(ctx context.Context, function string, class Class, err error, attempt int, elapsed time.Duration) decision {
	in := sdk.StrategyInput{Class: string(class), Message: err.Error(), Attempt: attempt, Elapsed: elapsed.Seconds(), Function: function}
	if code, ok := exitCode(err); ok {
		in.ExitCode = code
	}
	for _, e := range s.ext.Ordered(sdk.CapRecoveryStrategy) {
		st, ok := e.Impl().(Strategy)
		if !ok {
			continue
		}
		d, serr := extension.Call(ctx, e, func(ctx context.Context) (sdk.StrategyDecision, error) { return st.Decide(ctx, in) })
		if serr != nil {
			s.log.Warn("recovery strategy failed; asking the next", "strategy", e.ID(), "err", serr)
			continue
		}
		if d.NotMine {
			continue
		}
		return s.toDecision(in, d)
	}
	d, _ := s.policy.Decide(ctx, in)
	return s.toDecision(in, d)
}

func (s *strategies) toDecision(in sdk.StrategyInput, d sdk.StrategyDecision) decision {
	out := decision{retry: d.Retry, suggestion: d.Suggestion}
	c := Class(in.Class)
	if d.Class != "" && Class(d.Class).Valid() {
		out.class = Class(d.Class)
		c = out.class
	}
	if d.DelaySeconds < 0 {
		p := s.policy.Policy(c)
		out.delay = Backoff(p, in.Attempt, s.rand())
	} else {
		out.delay = time.Duration(d.DelaySeconds * float64(time.Second))
	}
	return out
}
