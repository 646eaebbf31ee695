package recovery

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/agent/internal/recovery/clock"
)

// BreakerOptions configure the per-(operation type, target) circuit breakers.
type BreakerOptions struct {
	// Threshold is the number of consecutive failures that opens a breaker.
	Threshold int
	// OpenTimeout is how long a breaker stays open before probing.
	OpenTimeout time.Duration
	// HalfOpenMax is how many probes HALF_OPEN admits (and successes it needs to close).
	HalfOpenMax int
	// Interval clears a closed breaker's counts; 0 never does.
	Interval time.Duration
	// MaxWait bounds how long an operation waits for an open breaker before failing.
	MaxWait time.Duration
}

// Options configure a Runner. Zero values get the defaults noted.
type Options struct {
	// Disabled runs every step once: no retries, no breakers.
	Disabled bool
	// Workers is how many steps run at once (4).
	Workers int
	// MaxAttempts is the default per-step attempt ceiling (5).
	MaxAttempts int
	// Policies override DefaultPolicies per class.
	Policies map[Class]Policy
	Breaker  BreakerOptions
	// MaxTestDuration caps the self-test and benchmark endpoints (60s).
	MaxTestDuration time.Duration
	// ScratchDir holds the scratch stores of self-tests, scenarios and benchmarks, each in its
	// own directory removed afterwards (the app passes <data_dir>/tmp; empty: os.TempDir()).
	ScratchDir string
	// ProgressInterval throttles persisting Op.Progress (2s).
	ProgressInterval time.Duration
	// MaxRetryAfter caps a server's Retry-After hint (10m).
	MaxRetryAfter time.Duration
	// KeepFinished is how long finished operations are kept (store and memory) before they
	// are pruned; 0 keeps them forever. Pruning runs at Start and at most hourly after.
	KeepFinished time.Duration
	// Bucket holds operations ("ops"); MetricsBucket the performance history ("metrics").
	Bucket        string
	MetricsBucket string
	Clock         clock.Clock
	Logger        *slog.Logger
	// Rand returns uniform draws in [0,1) for jitter.
	Rand func() float64
	// Extensions is the registry the recovery strategies come from; the runner registers its
	// policy table there as builtin.policy. nil means a private registry.
	Extensions *extension.Registry
}

func (o *Options) fill() {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	pol := DefaultPolicies()
	for c, p := range o.Policies {
		pol[c] = p
	}
	o.Policies = pol
	if o.Breaker.Threshold <= 0 {
		o.Breaker.Threshold = 5
	}
	if o.Breaker.OpenTimeout <= 0 {
		o.Breaker.OpenTimeout = 30 * time.Second
	}
	if o.Breaker.HalfOpenMax <= 0 {
		o.Breaker.HalfOpenMax = 1
	}
	if o.Breaker.MaxWait < 0 {
		o.Breaker.MaxWait = 0
	}
	if o.MaxTestDuration <= 0 {
		o.MaxTestDuration = 60 * time.Second
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = 2 * time.Second
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 10 * time.Minute
	}
	if o.Bucket == "" {
		o.Bucket = "ops"
	}
	if o.MetricsBucket == "" {
		o.MetricsBucket = "metrics"
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
}

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
