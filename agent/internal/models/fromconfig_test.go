package models_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/models"
)

func TestFromConfig(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "civitai.token")
	os.WriteFile(tokenFile, []byte("civ-secret\n"), 0o600)
	t.Setenv("TEST_HF_TOKEN", "hf-secret")
	cfg := config.Default()
	cfg.Paths.DataDir, cfg.Paths.ModelsDir = dir, filepath.Join(dir, "models")
	cfg.Sources.HuggingFace.TokenEnv = "TEST_HF_TOKEN"
	cfg.Sources.CivitAI.TokenFile = tokenFile
	cfg.Downloads.ExtraFolders = map[string][]string{"reactor": {"reactor/faces"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	opts, reg, err := models.FromConfig(cfg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := reg.IDs(); len(got) != 4 || got[0] != "builtin.huggingface" || got[3] != "builtin.direct" {
		t.Errorf("sources %v", got)
	}
	if c, ok := reg.Credential("huggingface.co"); !ok || c.Value != "Bearer hf-secret" {
		t.Errorf("hf credential %v %v", c.Header, ok)
	}
	if c, ok := reg.Credential("civitai.com"); !ok || c.Value != "Bearer civ-secret" {
		t.Errorf("civitai credential from file: %v", ok)
	}
	if _, ok := reg.Credential("example.com"); ok {
		t.Error("credential for an unconfigured host")
	}
	if opts.Download.MaxConnections != 8 || opts.Download.CheckpointBytes != 256<<20 || opts.MaxConcurrent != 3 {
		t.Errorf("download options %+v", opts.Download)
	}
	svc, err := models.New(opts, nil, nil, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := svc.Catalog.Layout().Dir("reactor"); !ok || d != "reactor/faces" {
		t.Errorf("extra folder: %q %v", d, ok)
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		mut  func(c *config.Config)
	}{
		{"max_connections", func(c *config.Config) { c.Downloads.MaxConnections = 0 }},
		{"extra folder escapes", func(c *config.Config) { c.Downloads.ExtraFolders = map[string][]string{"x": {"../etc"}} }},
		{"extra folder key", func(c *config.Config) { c.Downloads.ExtraFolders = map[string][]string{"Bad Key": {"x"}} }},
		{"endpoint", func(c *config.Config) { c.Sources.HuggingFace.Endpoint = "ftp://hf" }},
		{"token file", func(c *config.Config) { c.Sources.CivitAI.TokenFile = "/nonexistent/token" }},
		{"order", func(c *config.Config) { c.Sources.Order = []string{"gdrive"} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			dir := t.TempDir()
			c.Paths.DataDir, c.Paths.ModelsDir = dir, filepath.Join(dir, "m")
			tc.mut(c)
			if err := c.Validate(); err == nil {
				t.Error("want a validation error")
			}
		})
	}
	var c config.Config
	if err := config.Decode([]byte("[downloads]\nparallel_min_size = \"128MiB\"\ncheckpoint_size = \"1GB\"\n"), &c); err != nil {
		t.Fatal(err)
	}
	if c.Downloads.ParallelMinSize != 128<<20 || c.Downloads.CheckpointSize != 1<<30 {
		t.Errorf("sizes %d %d", c.Downloads.ParallelMinSize, c.Downloads.CheckpointSize)
	}
}
