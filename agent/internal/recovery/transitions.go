package recovery

import "time"

// The state changes that more than one part of the runner makes to an Operation, each in one
// place. They are called inside opStore.update's mutate, so now is read when the change is made.

// markTerminal ends op in st with class and err (nil keeps the last error) and the class's
// suggestions.
func markTerminal(op *Operation, now time.Time, st State, class Class, err error) {
	op.State = st
	op.ErrorClass = class
	if err != nil {
		op.Error = err.Error()
	}
	op.Suggestions = Suggestions(class)
	op.NextAttemptAt = nil
	op.FinishedAt = ptrTime(now)
	if op.CurrentStep < len(op.Steps) {
		op.Steps[op.CurrentStep].State = st
		if err != nil {
			op.Steps[op.CurrentStep].Error = err.Error()
		}
	}
}

// markHalted ends op cancelled, with metadata paused=true when cause is errPause.
func markHalted(op *Operation, cause error, now time.Time) {
	op.State = StateCancelled
	op.ErrorClass = ClassCancelled
	op.Error = cause.Error()
	op.NextAttemptAt = nil
	op.FinishedAt = ptrTime(now)
	if cause == errPause {
		op.Metadata["paused"] = true
	} else {
		delete(op.Metadata, "paused")
	}
	if op.CurrentStep < len(op.Steps) && op.Steps[op.CurrentStep].State != StatePending {
		op.Steps[op.CurrentStep].State = StateCancelled
	}
}

// resetForRun makes op pending again, keeping completed steps (unless all) and checkpoints;
// maxAttempts > 0 replaces its attempt ceiling.
func resetForRun(op *Operation, maxAttempts int, all bool) {
	op.State = StatePending
	op.Attempt = 0
	op.Retries = 0
	op.Error = ""
	op.ErrorClass = ""
	op.Suggestions = nil
	op.NextAttemptAt = nil
	op.FirstFailureAt = nil
	op.FinishedAt = nil
	if maxAttempts > 0 {
		op.MaxAttempts = maxAttempts
	}
	if all {
		op.CurrentStep = 0
	}
	for i := range op.Steps {
		if i >= op.CurrentStep {
			op.Steps[i].State = StatePending
			op.Steps[i].Error = ""
			op.Steps[i].Attempts = 0
		}
	}
}

// withSuggestion puts a strategy's suggestion first (once) before the class's own.
func withSuggestion(s string, rest []string) []string {
	if s == "" {
		return rest
	}
	out := []string{s}
	for _, x := range rest {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}
