package config

// SourcesConfig is the [sources] section: model sources' endpoints and credentials.
type SourcesConfig struct{}

func (s *SourcesConfig) setDefaults() {}

func (s *SourcesConfig) validate() []error { return nil }
