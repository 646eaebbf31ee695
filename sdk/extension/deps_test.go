package extension

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/comfylauncher/launcher"

// TestSDKImportsNothingFromTheAgent guards the dependency graph: extension authors import
// sdk/ and must not pull in the agent's internals (nor could they: they are internal). It runs
// for the host and for the WASM guest platform (sdk/wasm only builds for wasip1), and fails
// rather than skips when `go list` cannot run: a guard that can skip guards nothing.
//
// On wasip1 it also guards that what a WASM guest may import (sdk/wasm, sdk/extension and the
// plugin protocol's messages) never pulls in gRPC: a guest would balloon to 20 MB and gRPC
// does not run there. Only the plugin SDK (sdk/plugin, a native program) and the generated
// services (pluginv1grpc) may use gRPC.
func TestSDKImportsNothingFromTheAgent(t *testing.T) {
	guest := []string{module + "/sdk/wasm", module + "/sdk/extension", module + "/sdk/proto/cmfy/plugin/v1"}
	for _, run := range []struct {
		goos string
		pkgs []string
	}{
		{"", []string{module + "/sdk/..."}},
		{"wasip1", guest},
	} {
		cmd := exec.Command("go", append([]string{"list", "-deps"}, run.pkgs...)...)
		cmd.Env = os.Environ()
		if run.goos != "" {
			cmd.Env = append(cmd.Env, "GOOS="+run.goos, "GOARCH=wasm")
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list (GOOS=%q): %v\n%s", run.goos, err, out)
		}
		deps := strings.Fields(string(out))
		if run.goos == "wasip1" {
			for _, p := range guest {
				if !slices.Contains(deps, p) {
					t.Fatalf("go list (GOOS=wasip1) did not list %s itself: the guard would pass vacuously\n%s", p, out)
				}
			}
		}
		for _, dep := range deps {
			if strings.HasPrefix(dep, module+"/agent") {
				t.Errorf("sdk (GOOS=%q) depends on %s", run.goos, dep)
			}
			if run.goos == "wasip1" && (strings.HasPrefix(dep, "google.golang.org/grpc") || strings.HasPrefix(dep, "github.com/hashicorp/go-plugin")) {
				t.Errorf("the WASM guest SDK depends on %s (gRPC balloons a guest to 20 MB)", dep)
			}
		}
	}
}
