package recovery

import "github.com/comfylauncher/launcher/agent/internal/config"

// OptionsFromConfig maps the [recovery] section to Options; per-class policy fields that the
// file leaves unset keep DefaultPolicies' values. Clock, Logger and Rand stay zero (defaults).
func OptionsFromConfig(c config.RecoveryConfig) Options {
	pol := DefaultPolicies()
	for name, p := range c.Policy {
		cl := Class(name)
		cur, ok := pol[cl]
		if !ok {
			continue
		}
		if p.Retry != nil {
			cur.Retry = *p.Retry
		}
		if p.MaxAttempts > 0 {
			cur.MaxAttempts = p.MaxAttempts
		}
		if p.BaseDelay.Duration > 0 {
			cur.BaseDelay = p.BaseDelay.Duration
		}
		if p.MaxDelay.Duration > 0 {
			cur.MaxDelay = p.MaxDelay.Duration
		}
		pol[cl] = cur
	}
	return Options{
		Disabled:    !c.Enabled,
		Workers:     c.Workers,
		MaxAttempts: c.MaxAttempts,
		Policies:    pol,
		Breaker: BreakerOptions{
			Threshold:   c.Breaker.Threshold,
			OpenTimeout: c.Breaker.OpenTimeout.Duration,
			HalfOpenMax: c.Breaker.HalfOpenMax,
			Interval:    c.Breaker.Interval.Duration,
			MaxWait:     c.Breaker.MaxWait.Duration,
		},
		MaxTestDuration:  c.MaxTestDuration.Duration,
		ProgressInterval: c.PersistProgressInterval.Duration,
		MaxRetryAfter:    c.MaxRetryAfter.Duration,
		KeepFinished:     c.KeepFinished.Duration,
	}
}
