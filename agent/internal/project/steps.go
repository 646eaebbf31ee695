package project

import (
	"context"
	"errors"
	"os"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

// Step names of the install operation; they equal the project states shown meanwhile.
const (
	stepDownloadComfyUI    = string(StateDownloadComfyUI)
	stepInstallComfyUI     = string(StateInstallComfyUI)
	stepInstallCustomNodes = string(StateInstallCustomNodes)
	stepDownloadFiles      = string(StateDownloadFiles)
	// stepStart and stepRun name failures of starting and of a running process.
	stepStart = "start"
	stepRun   = "run"
)

// Error classes of the install steps, in the recovery runner's terms (they key its retry
// policy). classDependency is empty: the failed pip or git run is classified from its output
// (a timeout or a DNS failure retries, a missing package does not).
const (
	classNetwork    = recovery.ClassNetwork
	classDependency = recovery.Class("")
	classConfig     = recovery.ClassNotFound
	classDisk       = recovery.ClassResource
)

// StepError is a failed install step with its error class for the retry policy.
type StepError struct {
	Step  string
	Class recovery.Class
	Err   error
}

// Error is the underlying error's text.
func (e *StepError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *StepError) Unwrap() error { return e.Err }

// stepErr marks err as a failure of step with its class; an error that already names its
// step, or a cancellation, passes unchanged, and a permission error is always ClassPermission.
func stepErr(step string, class recovery.Class, err error) error {
	if err == nil {
		return nil
	}
	var se *StepError
	if errors.As(err, &se) || errors.Is(err, context.Canceled) {
		return err
	}
	if errors.Is(err, os.ErrPermission) {
		class = recovery.ClassPermission
	}
	return &StepError{Step: step, Class: class, Err: err}
}
