package project

import (
	"sync"
	"time"
)

// persistHealth remembers whether project records reach the store: the first failure of a
// streak and when it began, cleared by the next successful write.
type persistHealth struct {
	mu    sync.Mutex
	err   error
	since time.Time
}

func (h *persistHealth) note(err error, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err == nil:
		h.err = nil
	case h.err == nil:
		h.err, h.since = err, now
	}
}

// Health is the "projects" entry of GET /api/health: whether project records and log lines
// are being stored. A state that cannot be recorded would be lost at the next restart.
func (m *Manager) Health() (bool, any) {
	logsOK, logs := m.logs.Health()
	m.health.mu.Lock()
	err, since := m.health.err, m.health.since
	m.health.mu.Unlock()
	d := map[string]any{"logs": logs, "records": map[string]any{"ok": err == nil}}
	if err != nil {
		d["records"] = map[string]any{"ok": false, "error": err.Error(), "since": since.UTC().Format(time.RFC3339)}
	}
	return logsOK && err == nil, d
}
