package project

import "strconv"

// targets resolves the reverse proxy's /comfy/<id>/ to the port of a running project.
type targets struct{ recs *records }

// target returns the port of a running project. A known project that is not running answers
// (0, true): the proxy then says "not running, start it" instead of "no such project".
func (t targets) target(projectID string) (int, bool) {
	t.recs.mu.Lock()
	defer t.recs.mu.Unlock()
	e, ok := t.recs.projects[projectID]
	if !ok {
		return t.byPortLocked(projectID)
	}
	if e.p.Process == nil || (e.p.State != StateRunning && e.p.State != StateStarting) {
		return 0, true
	}
	return e.p.Process.Port, true
}

// byPortLocked resolves /comfy/<port>/, the URL the original web UI builds in proxy mode, to
// the running project on that port; recs.mu is held.
func (t targets) byPortLocked(id string) (int, bool) {
	port, err := strconv.Atoi(id)
	if err != nil || port <= 0 {
		return 0, false
	}
	for _, e := range t.recs.projects {
		if e.p.Process != nil && e.p.Process.Port == port && (e.p.State == StateRunning || e.p.State == StateStarting) {
			return port, true
		}
	}
	return 0, false
}
