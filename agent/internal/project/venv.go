package project

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/atomicfile"
)

// venvs creates each project's Python environment and installs requirements into it.
type venvs struct {
	layout layout
	sh     shell
	// python creates the venvs; pipArgs are appended to every pip install.
	python  string
	pipArgs []string
}

// ensure creates the project's venv unless one made by the same python is in place. A new
// venv gets a new id, which voids every pip marker made for an earlier one.
func (v venvs) ensure(ctx context.Context, id string) error {
	venv := filepath.Join(v.layout.dir(id), "venv")
	fp := fingerprint(v.python)
	if v.layout.markerOK(id, "venv", fp) && fileExists(v.layout.venvPython(id)) {
		return nil
	}
	if err := os.RemoveAll(venv); err != nil {
		return stepErr(stepInstallComfyUI, classDisk, err)
	}
	if err := v.sh.run(ctx, id, v.layout.dir(id), nil, v.python, "-m", "venv", venv); err != nil {
		return stepErr(stepInstallComfyUI, classDependency, err)
	}
	if err := atomicfile.Write(filepath.Join(venv, ".launcher-venv-id"), []byte(newVenvID()), 0o644); err != nil {
		return stepErr(stepInstallComfyUI, classDisk, err)
	}
	if err := v.layout.setMarker(id, "venv", fp); err != nil {
		return stepErr(stepInstallComfyUI, classDisk, err)
	}
	return nil
}

// newVenvID names one created venv, so markers of an earlier venv in the same place are void.
func newVenvID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "venv_" + hex.EncodeToString(b[:])
}

// pipKey is the part of a pip marker that says into which venv, with which arguments.
func (v venvs) pipKey(id string) string {
	venvID, _ := os.ReadFile(filepath.Join(v.layout.dir(id), "venv", ".launcher-venv-id"))
	return string(venvID) + "\x00" + strings.Join(v.pipArgs, "\x00")
}

// pipInstall installs reqFile (relative to dir) into the project's venv.
func (v venvs) pipInstall(ctx context.Context, id, dir, reqFile string) error {
	args := []string{"-m", "pip", "--disable-pip-version-check", "--no-input", "install", "-r", reqFile}
	args = append(args, v.pipArgs...)
	return v.sh.run(ctx, id, dir, nil, v.layout.venvPython(id), args...)
}
