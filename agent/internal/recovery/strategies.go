package recovery

import (
	"errors"
	"os/exec"

	"github.com/comfylauncher/launcher/sdk/extension"
)

type namedStrategy struct {
	id        string
	s         Strategy
	functions map[string]bool // nil: every function
}

// RegisterStrategy adds a strategy under a namespaced id (e.g. "ext.myorg.gpu_oom"). It is
// asked before the default policy for the given functions (all when none are given); later
// registrations are asked first, so an extension can override a built-in one. Registering an
// id again replaces it.
func (r *Runner) RegisterStrategy(id string, s Strategy, functions ...string) {
	ns := namedStrategy{id: id, s: s}
	if len(functions) > 0 {
		ns.functions = map[string]bool{}
		for _, f := range functions {
			ns.functions[f] = true
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, x := range r.strategies {
		if x.id == id {
			r.strategies = append(r.strategies[:i], r.strategies[i+1:]...)
			break
		}
	}
	r.strategies = append(r.strategies, ns)
}

// strategiesFor returns the strategies that apply to function, newest first.
func (r *Runner) strategiesFor(function string) []namedStrategy {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []namedStrategy
	for i := len(r.strategies) - 1; i >= 0; i-- {
		s := r.strategies[i]
		if s.functions == nil || s.functions[function] {
			out = append(out, s)
		}
	}
	return out
}

// StrategyIDs lists registered strategy ids, oldest first, then "default".
func (r *Runner) StrategyIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for _, s := range r.strategies {
		ids = append(ids, s.id)
	}
	return append(ids, "default")
}

func exitCode(err error) (int, bool) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), true
	}
	return 0, false
}

func extensionInput(c Class, attempt int) extension.StrategyInput {
	return extension.StrategyInput{Class: string(c), Attempt: attempt}
}
