package app

import (
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
)

// TestMain removes the template venv projecttest.Python builds once for the package.
func TestMain(m *testing.M) { projecttest.Main(m) }
