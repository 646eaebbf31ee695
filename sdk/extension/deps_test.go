package extension

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSDKImportsNothingFromTheAgent guards the dependency graph: extension authors import
// sdk/ and must not pull in the agent's internals (nor could they: they are internal). It runs
// for the host and for the WASM guest platform (sdk/wasm only builds for wasip1), and fails
// rather than skips when `go list` cannot run: a guard that can skip guards nothing.
func TestSDKImportsNothingFromTheAgent(t *testing.T) {
	for _, goos := range []string{"", "wasip1"} {
		cmd := exec.Command("go", "list", "-deps", "github.com/comfylauncher/launcher/sdk/...")
		cmd.Env = os.Environ()
		if goos != "" {
			cmd.Env = append(cmd.Env, "GOOS="+goos, "GOARCH=wasm")
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list (GOOS=%q): %v\n%s", goos, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) == 0 {
			t.Fatalf("go list (GOOS=%q) listed nothing", goos)
		}
		for _, dep := range deps {
			if strings.HasPrefix(dep, "github.com/comfylauncher/launcher/agent") {
				t.Errorf("sdk (GOOS=%q) depends on %s", goos, dep)
			}
			if strings.HasPrefix(dep, "google.golang.org/grpc") && goos == "wasip1" {
				t.Errorf("the WASM guest SDK depends on %s (gRPC balloons a guest to 20 MB)", dep)
			}
		}
	}
}
