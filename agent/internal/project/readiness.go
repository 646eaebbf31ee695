package project

// Reconciled is closed once the desired-state loop has made its first pass over the
// [[projects]] of launcher.toml (at once when the loop is off): readiness waits for it, so an
// orchestrator does not route to an agent that has not yet created its declared projects.
func (m *Manager) Reconciled() <-chan struct{} { return m.reconciled }

func (m *Manager) markReconciled() {
	select {
	case <-m.reconciled:
	default:
		close(m.reconciled)
	}
}
