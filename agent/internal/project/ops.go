package project

import (
	"context"
	"errors"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

// RecoveryOps runs project operations on the durable operations runner: install operations
// are persisted with their completed steps and resumed by the runner after an agent restart.
type RecoveryOps struct {
	Runner *recovery.Runner
}

var _ Operations = RecoveryOps{}

// Register wraps each step so it gets the project id from the metadata and reports its
// error class.
func (a RecoveryOps) Register(def Definition) error {
	steps := make([]recovery.Step, len(def.Steps))
	for i, s := range def.Steps {
		steps[i] = recovery.Step{Name: s.Name, Run: func(ctx context.Context, op *recovery.Op) error {
			var id string
			if err := op.DecodeMeta("project_id", &id); err != nil || id == "" {
				return recovery.WithClass(recovery.ClassNotFound, errors.New("operation has no project_id"))
			}
			return classify(s.Run(ctx, id))
		}}
	}
	onTerminal := def.OnTerminal
	a.Runner.Register(recovery.Definition{
		Name:        def.Name,
		Steps:       steps,
		MaxAttempts: def.MaxAttempts,
		OnTerminal: func(ctx context.Context, op recovery.Operation) {
			if onTerminal == nil {
				return
			}
			id, _ := op.Metadata["project_id"].(string)
			var err error
			if op.State != recovery.StateSuccess {
				msg := op.Error
				if msg == "" {
					msg = "install ended in state " + string(op.State)
				}
				// The operation keeps the step error's text and suggestions, not its type.
				err = &StepError{Step: failedStep(op), Class: op.ErrorClass,
					Err: apierr.New(apierr.Unavailable, "InstallError", msg, op.Suggestions...)}
			}
			onTerminal(ctx, id, op.ID, string(op.State), err)
		},
	})
	return nil
}

// failedStep is the first step of op that did not succeed.
func failedStep(op recovery.Operation) string {
	for _, s := range op.Steps {
		if s.State != recovery.StateSuccess {
			return s.Name
		}
	}
	if n := len(op.Steps); n > 0 {
		return op.Steps[n-1].Name
	}
	return ""
}

// classify gives the runner the error's class: the step's explicit class, else the class of
// the failed subprocess's output.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var se *StepError
	if errors.As(err, &se) && se.Class != "" {
		return recovery.WithClass(se.Class, err)
	}
	var ce *CmdError
	if errors.As(err, &ce) {
		if c := recovery.ClassifyText(strings.Join(ce.LastLines, "\n")); c != recovery.ClassUnknown {
			return recovery.WithClass(c, err)
		}
	}
	return err
}

// Submit starts an operation.
func (a RecoveryOps) Submit(ctx context.Context, function string, meta map[string]any) (string, error) {
	return a.Runner.Submit(ctx, function, meta)
}

// Cancel cancels an operation.
func (a RecoveryOps) Cancel(id string) error { return a.Runner.Cancel(id) }

// Retry re-runs an operation from its first unfinished step; the operation keeps its id.
func (a RecoveryOps) Retry(id string, force bool, maxAttempts int) (string, error) {
	if _, err := a.Runner.Retry(id, force, maxAttempts); err != nil {
		return "", err
	}
	return id, nil
}

// Status returns the operation's state.
func (a RecoveryOps) Status(id string) (string, bool) {
	op, err := a.Runner.Get(id)
	if err != nil {
		return "", false
	}
	return string(op.State), true
}
