package recovery

import (
	"context"
	"math"
	"time"

	"github.com/comfylauncher/launcher/sdk/extension"
)

// Policy is the default retry behaviour for one error class.
type Policy struct {
	Retry       bool
	MaxAttempts int
	BaseDelay   time.Duration
	MaxDelay    time.Duration
}

// DefaultPolicies is the per-class policy used when the config does not override it. Classes
// that retrying cannot fix (a missing file, a rejected token, no permission) never retry;
// integrity gets one fresh attempt because a corrupt transfer usually succeeds the second time.
func DefaultPolicies() map[Class]Policy {
	return map[Class]Policy{
		ClassNetwork:    {Retry: true, MaxAttempts: 5, BaseDelay: time.Second, MaxDelay: 60 * time.Second},
		ClassTimeout:    {Retry: true, MaxAttempts: 5, BaseDelay: time.Second, MaxDelay: 60 * time.Second},
		ClassResource:   {Retry: true, MaxAttempts: 3, BaseDelay: 5 * time.Second, MaxDelay: 5 * time.Minute},
		ClassPermission: {Retry: false, MaxAttempts: 1},
		ClassNotFound:   {Retry: false, MaxAttempts: 1},
		ClassAuth:       {Retry: false, MaxAttempts: 1},
		ClassIntegrity:  {Retry: true, MaxAttempts: 2, BaseDelay: time.Second, MaxDelay: 10 * time.Second},
		ClassCancelled:  {Retry: false, MaxAttempts: 1},
		ClassUnknown:    {Retry: true, MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: 10 * time.Second},
	}
}

// Backoff is full-jitter exponential backoff (AWS "Exponential Backoff And Jitter"): a delay
// drawn uniformly from [0, min(MaxDelay, BaseDelay*2^(attempt-1))). u is the random draw in
// [0,1); attempt is the attempt that just failed, from 1.
func Backoff(p Policy, attempt int, u float64) time.Duration {
	ceiling := BackoffCeiling(p, attempt)
	if u < 0 {
		u = 0
	}
	if u >= 1 {
		u = math.Nextafter(1, 0)
	}
	return time.Duration(float64(ceiling) * u)
}

// BackoffCeiling is the upper bound of Backoff's draw for attempt.
func BackoffCeiling(p Policy, attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if p.BaseDelay <= 0 {
		return 0
	}
	maxD := p.MaxDelay
	if maxD <= 0 {
		maxD = p.BaseDelay
	}
	exp := float64(p.BaseDelay) * math.Pow(2, float64(attempt-1))
	if exp > float64(maxD) || math.IsInf(exp, 0) {
		return maxD
	}
	return time.Duration(exp)
}

// Strategy decides what to do after a failed attempt: retry or not, after how long, and
// whether the error belongs to another class. Extensions implement it; the default is
// PolicyStrategy. A negative DelaySeconds asks for the default backoff.
type Strategy interface {
	Decide(ctx context.Context, in extension.StrategyInput) (extension.StrategyDecision, error)
}

// StrategyFunc adapts a function to Strategy.
type StrategyFunc func(ctx context.Context, in extension.StrategyInput) (extension.StrategyDecision, error)

// Decide calls f.
func (f StrategyFunc) Decide(ctx context.Context, in extension.StrategyInput) (extension.StrategyDecision, error) {
	return f(ctx, in)
}

// PolicyStrategy is the default Strategy: the per-class policy table with full-jitter backoff.
type PolicyStrategy struct {
	Policies map[Class]Policy
	// Rand returns a uniform draw in [0,1).
	Rand func() float64
}

var _ Strategy = (*PolicyStrategy)(nil)

// Policy returns the policy for c, falling back to unknown's.
func (s *PolicyStrategy) Policy(c Class) Policy {
	if p, ok := s.Policies[c]; ok {
		return p
	}
	if p, ok := s.Policies[ClassUnknown]; ok {
		return p
	}
	return DefaultPolicies()[ClassUnknown]
}

// Decide retries when the class's policy allows it; the attempt ceiling is applied by the
// runner so that running out is reported as exhausted, not failed.
func (s *PolicyStrategy) Decide(_ context.Context, in extension.StrategyInput) (extension.StrategyDecision, error) {
	p := s.Policy(Class(in.Class))
	u := 0.5
	if s.Rand != nil {
		u = s.Rand()
	}
	return extension.StrategyDecision{Retry: p.Retry, DelaySeconds: Backoff(p, in.Attempt, u).Seconds()}, nil
}
