package app

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/config"
)

// TestTokenFromSystemdCredential: LoadCredential=api-token wins over server.token_file (so
// configs/gpu-node.toml works under systemd and in the k8s/Nomad files as is); an empty
// credential is an error, not auth turned off.
func TestTokenFromSystemdCredential(t *testing.T) {
	creds := t.TempDir()
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	cfg := config.Default()
	cfg.Server.Listen = "0.0.0.0:4000"
	cfg.Server.TokenFile = filepath.Join(t.TempDir(), "token-file")
	os.WriteFile(cfg.Server.TokenFile, []byte("from-token-file-0123456789\n"), 0o600)

	if tok, err := resolveToken(cfg, io.Discard); err != nil || tok != "from-token-file-0123456789" {
		t.Fatalf("without the credential: %q, %v; want the token file", tok, err)
	}
	os.WriteFile(filepath.Join(creds, "api-token"), []byte("from-credential-0123456789\n"), 0o400)
	if tok, err := resolveToken(cfg, io.Discard); err != nil || tok != "from-credential-0123456789" {
		t.Fatalf("with the credential: %q, %v", tok, err)
	}
	os.WriteFile(filepath.Join(creds, "api-token"), nil, 0o400)
	if _, err := resolveToken(cfg, io.Discard); err == nil {
		t.Fatal("an empty credential was accepted")
	}
}
