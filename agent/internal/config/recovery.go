package config

import (
	"fmt"
	"sort"
	"time"
)

// RecoveryClasses are the error classes [recovery.policy.<class>] may name (the recovery
// package's classes; listed here because config imports nothing from the agent).
var RecoveryClasses = []string{"network", "timeout", "resource", "permission", "not_found", "auth", "integrity", "cancelled", "unknown"}

// RecoveryConfig is the [recovery] section: retry policies per error class, breakers, workers.
type RecoveryConfig struct {
	// Enabled turns retries and circuit breakers on; when false every step runs once.
	Enabled bool `toml:"enabled"`
	// Workers is how many operation steps run at once.
	Workers int `toml:"workers"`
	// MaxAttempts is the default per-step attempt ceiling of an operation.
	MaxAttempts int `toml:"max_attempts"`
	// PersistProgressInterval throttles how often progress is written to the store.
	PersistProgressInterval Duration `toml:"persist_progress_interval"`
	// MaxTestDuration caps POST /api/recovery/performance/{validate,benchmark} and the
	// scenario runs so a request cannot hog the node.
	MaxTestDuration Duration `toml:"max_test_duration"`
	// MaxRetryAfter caps how long a server's Retry-After can delay a retry.
	MaxRetryAfter Duration `toml:"max_retry_after"`
	// KeepFinished is how long finished operations stay listed before they are pruned; "0s"
	// keeps them forever.
	KeepFinished Duration              `toml:"keep_finished"`
	Breaker      RecoveryBreakerConfig `toml:"breaker"`
	// Policy overrides the built-in policy of an error class; unset fields keep the built-in
	// value, e.g. [recovery.policy.network] max_attempts = 8.
	Policy map[string]RecoveryPolicy `toml:"policy"`
	// Strategies is the order recovery strategies are asked (extension ids; "policy" is the
	// built-in per-class policy table); empty means extensions first, then the policy table.
	Strategies []string `toml:"strategies"`
}

// KnownStrategies are the built-in recovery strategies.
var KnownStrategies = []string{"policy"}

// RecoveryBreakerConfig is [recovery.breaker]: one circuit breaker per (operation type, host).
type RecoveryBreakerConfig struct {
	// Threshold is the consecutive failures that open a breaker.
	Threshold int `toml:"threshold"`
	// OpenTimeout is how long an open breaker refuses calls before probing.
	OpenTimeout Duration `toml:"open_timeout"`
	// HalfOpenMax is how many probes a half-open breaker admits (and successes it needs).
	HalfOpenMax int `toml:"half_open_max"`
	// Interval clears a closed breaker's failure counts; "0s" never does.
	Interval Duration `toml:"interval"`
	// MaxWait bounds how long an operation waits for an open breaker before failing.
	MaxWait Duration `toml:"max_wait"`
}

// RecoveryPolicy is [recovery.policy.<class>]. Zero fields mean "built-in default".
type RecoveryPolicy struct {
	Retry       *bool    `toml:"retry"`
	MaxAttempts int      `toml:"max_attempts"`
	BaseDelay   Duration `toml:"base_delay"`
	MaxDelay    Duration `toml:"max_delay"`
}

func (r *RecoveryConfig) setDefaults() {
	r.Enabled = true
	r.Workers = 4
	r.MaxAttempts = 5
	r.PersistProgressInterval = Duration{2 * time.Second}
	r.MaxTestDuration = Duration{60 * time.Second}
	r.MaxRetryAfter = Duration{10 * time.Minute}
	r.KeepFinished = Duration{7 * 24 * time.Hour}
	r.Breaker = RecoveryBreakerConfig{
		Threshold:   5,
		OpenTimeout: Duration{30 * time.Second},
		HalfOpenMax: 1,
		Interval:    Duration{60 * time.Second},
		MaxWait:     Duration{2 * time.Minute},
	}
}

func (r *RecoveryConfig) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if r.Workers < 1 || r.Workers > 256 {
		add("recovery.workers = %d must be between 1 and 256", r.Workers)
	}
	if r.MaxAttempts < 1 || r.MaxAttempts > 100 {
		add("recovery.max_attempts = %d must be between 1 and 100", r.MaxAttempts)
	}
	if r.PersistProgressInterval.Duration < 100*time.Millisecond {
		add("recovery.persist_progress_interval must be at least \"100ms\" (every write is an fsync)")
	}
	if r.MaxTestDuration.Duration < time.Second || r.MaxTestDuration.Duration > time.Hour {
		add("recovery.max_test_duration must be between \"1s\" and \"1h\", e.g. \"60s\"")
	}
	if r.MaxRetryAfter.Duration < time.Second {
		add("recovery.max_retry_after must be at least \"1s\", e.g. \"10m\"")
	}
	if r.KeepFinished.Duration < 0 {
		add("recovery.keep_finished must not be negative (\"0s\" keeps finished operations forever)")
	}
	b := r.Breaker
	if b.Threshold < 1 {
		add("recovery.breaker.threshold = %d must be at least 1", b.Threshold)
	}
	if b.OpenTimeout.Duration < 100*time.Millisecond {
		add("recovery.breaker.open_timeout must be at least \"100ms\", e.g. \"30s\"")
	}
	if b.HalfOpenMax < 1 || b.HalfOpenMax > 100 {
		add("recovery.breaker.half_open_max = %d must be between 1 and 100", b.HalfOpenMax)
	}
	if b.Interval.Duration < 0 {
		add("recovery.breaker.interval must not be negative (\"0s\" never resets the counts)")
	}
	if b.MaxWait.Duration < 0 {
		add("recovery.breaker.max_wait must not be negative (\"0s\" fails at once while a breaker is open)")
	}
	names := make([]string, 0, len(r.Policy))
	for n := range r.Policy {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		p := r.Policy[name]
		known := false
		for _, c := range RecoveryClasses {
			known = known || c == name
		}
		if !known {
			add("recovery.policy.%s: unknown error class (use one of %v)", name, RecoveryClasses)
			continue
		}
		if p.MaxAttempts < 0 || p.MaxAttempts > 100 {
			add("recovery.policy.%s.max_attempts = %d must be between 1 and 100 (or omitted)", name, p.MaxAttempts)
		}
		if p.BaseDelay.Duration < 0 || p.MaxDelay.Duration < 0 {
			add("recovery.policy.%s: delays must not be negative", name)
		}
		if p.BaseDelay.Duration > 0 && p.MaxDelay.Duration > 0 && p.MaxDelay.Duration < p.BaseDelay.Duration {
			add("recovery.policy.%s: max_delay (%s) is less than base_delay (%s)", name, p.MaxDelay.Duration, p.BaseDelay.Duration)
		}
	}
	return errs
}
