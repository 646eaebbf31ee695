package project

import (
	"testing"
	"time"
)

// Harness exposes the package's test harness to the external tests (package project_test),
// which test the HTTP handlers of projecthttp over a real Manager.
type Harness struct {
	// M is the started manager.
	M *Manager
	h *harness
}

// NewHarness is newHarness with the default options.
func NewHarness(t testing.TB) *Harness {
	h := newHarness(t, nil)
	return &Harness{M: h.m, h: h}
}

// FailStarts makes the stand-in supervisor refuse every start with err (nil: start again).
func (h *Harness) FailStarts(err error) {
	h.h.sup.mu.Lock()
	h.h.sup.failStart = err
	h.h.sup.mu.Unlock()
}

// AddLogAt adds a log line of the project with its own time.
func (h *Harness) AddLogAt(id string, at time.Time, level, msg string, data map[string]any) {
	h.M.logs.AddAt(id, at, level, msg, data)
}

// ForgetLogs deletes the project's log lines.
func (h *Harness) ForgetLogs(t testing.TB, id string) {
	t.Helper()
	if err := h.M.logs.Forget(id); err != nil {
		t.Fatal(err)
	}
}

// WaitSettled waits until the project is ready, running or failed.
func WaitSettled(t testing.TB, m *Manager, id string) Project { return waitSettled(t, m, id) }
