package project

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/comfylauncher/launcher/agent/internal/atomicfile"
)

// layout is where a project's files live: <data_dir>/projects/<id>/ holds the ComfyUI
// checkout (comfyui/), its venv (venv/), run logs (logs/), extra_model_paths.yaml and the
// install's step markers (.launcher/steps/).
type layout struct{ dataDir string }

// dir is <data_dir>/projects/<id>.
func (l layout) dir(id string) string { return filepath.Join(l.dataDir, "projects", id) }

// comfyUI is the project's ComfyUI checkout.
func (l layout) comfyUI(id string) string { return filepath.Join(l.dir(id), "comfyui") }

func (l layout) venvPython(id string) string {
	return filepath.Join(l.dir(id), "venv", "bin", "python")
}

// extraModelPaths is the file ComfyUI gets with --extra-model-paths-config.
func (l layout) extraModelPaths(id string) string {
	return filepath.Join(l.dir(id), "extra_model_paths.yaml")
}

// ensure creates the project's folders.
func (l layout) ensure(id string) error {
	for _, d := range []string{"", ".launcher", "logs"} {
		if err := os.MkdirAll(filepath.Join(l.dir(id), d), 0o755); err != nil {
			return fmt.Errorf("create project folder: %w", err)
		}
	}
	return nil
}

// markerPath is the file that records that a piece of install work finished with given inputs.
func (l layout) markerPath(id, name string) string {
	return filepath.Join(l.dir(id), ".launcher", "steps", name)
}

// markerOK reports whether the work name was done with these inputs.
func (l layout) markerOK(id, name, fingerprint string) bool {
	b, err := os.ReadFile(l.markerPath(id, name))
	return err == nil && string(b) == fingerprint
}

// setMarker records that the work name was done with these inputs.
func (l layout) setMarker(id, name, fingerprint string) error {
	p := l.markerPath(id, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(p, []byte(fingerprint), 0o644)
}
