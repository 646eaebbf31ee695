package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// credentialName is the systemd credential that carries the API token
// (LoadCredential=api-token:/etc/comfy-launcher/api-token in configs/systemd).
const credentialName = "api-token"

// credentialToken reads the token systemd passed with LoadCredential=; "" when the agent
// runs without credentials or this one.
func credentialToken() (string, error) {
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if dir == "" {
		return "", nil
	}
	p := filepath.Join(dir, credentialName)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read systemd credential %s: %w", p, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("systemd credential %s is empty: put a token in the file LoadCredential= names", p)
	}
	return tok, nil
}
