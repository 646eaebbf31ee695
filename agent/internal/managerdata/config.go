package managerdata

import (
	"path/filepath"

	"github.com/comfylauncher/launcher/agent/internal/config"
)

// CacheDirFor is the cache directory of a config: <paths.data_dir>/manager. The agent and every
// CLI command that reads Manager data use it, so they share one cache.
func CacheDirFor(cfg *config.Config) string { return filepath.Join(cfg.Paths.DataDir, "manager") }

// OptionsFromConfig returns the [manager] section as Options (Client and Now left default).
func OptionsFromConfig(cfg *config.Config) Options {
	mc := cfg.Manager
	return Options{
		URLs: map[string]string{
			FileNodeMap:    mc.ExtensionNodeMapURL,
			FileStats:      mc.GithubStatsURL,
			FileModelList:  mc.ModelListURL,
			FileCustomList: mc.CustomNodeListURL,
		},
		CacheDir: CacheDirFor(cfg),
		SeedDir:  mc.SeedDir,
		MaxAge:   mc.MaxAge.Duration,
	}
}
