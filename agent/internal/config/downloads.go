package config

// DownloadsConfig is the [downloads] section (owned by the model store).
type DownloadsConfig struct{}

func (d *DownloadsConfig) setDefaults() {}

func (d *DownloadsConfig) validate() []error { return nil }
