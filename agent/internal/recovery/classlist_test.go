package recovery

import (
	"slices"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/config"
)

// TestConfigKnowsEveryClass: config validates [recovery.policy.<class>] against its own copy
// of the class names (config imports nothing from the agent, and this package imports
// config); the copy must be exactly Classes.
func TestConfigKnowsEveryClass(t *testing.T) {
	var names []string
	for _, c := range Classes {
		names = append(names, string(c))
	}
	if !slices.Equal(names, config.RecoveryClasses) {
		t.Fatalf("config.RecoveryClasses = %v, recovery.Classes = %v", config.RecoveryClasses, names)
	}
}
