package extension

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSDKImportsNothingFromTheAgent guards the dependency graph: extension authors import
// sdk/ and must not pull in the agent's internals (nor could they: they are internal).
func TestSDKImportsNothingFromTheAgent(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/comfylauncher/launcher/sdk/...").CombinedOutput()
	if err != nil {
		t.Fatalf("the dependency guard needs go list: %v %s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/comfylauncher/launcher/agent") {
			t.Errorf("sdk depends on %s", dep)
		}
	}
}
