package config

// RecoveryConfig is the [recovery] section: retry policies per error class, breakers, workers.
type RecoveryConfig struct{}

func (r *RecoveryConfig) setDefaults() {}

func (r *RecoveryConfig) validate() []error { return nil }
