// Package ports leases TCP ports on 127.0.0.1 to projects. A lease is in-memory bookkeeping
// plus a bind probe: a port is handed out only if no other project holds it and nothing on the
// machine is listening on it right now. The caller persists the port with the project and calls
// Restore after an agent restart, and Release when the project's process is gone for good.
package ports

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// Lowest and highest ports a fixed port may use: below 1024 needs privileges.
const (
	MinPort = 1024
	MaxPort = 65535
)

// Leaser hands out ports from [min, max] and validates fixed ports. It is safe for concurrent use.
type Leaser struct {
	min, max int

	mu        sync.Mutex
	byProject map[string]int
	byPort    map[int]string
	// next is where the next search for a free port starts, so a port released a moment ago
	// (whose process may still be closing its socket) is not handed out again at once.
	next int
	// probe reports whether 127.0.0.1:port can be bound now; replaced in tests.
	probe func(port int) error
}

// New returns a Leaser for the inclusive range [min, max]; out-of-order bounds are swapped and
// the range is clamped to [MinPort, MaxPort].
func New(min, max int) *Leaser {
	if min > max {
		min, max = max, min
	}
	min = clamp(min)
	max = clamp(max)
	return &Leaser{
		min: min, max: max, next: min,
		byProject: map[string]int{},
		byPort:    map[int]string{},
		probe:     bindProbe,
	}
}

// Range returns the inclusive range ports are leased from.
func (l *Leaser) Range() (min, max int) { return l.min, l.max }

// Lease returns a port for projectID. With fixed == 0 it is any free port of the range (the
// project's previous port when it is still free, so ports are stable across restarts); with a
// fixed port, that port, which may lie outside the range but must be in 1024..65535. The port
// is probed by binding 127.0.0.1:port. A project holding another port loses that lease.
func (l *Leaser) Lease(projectID string, fixed int) (int, error) {
	if projectID == "" {
		return 0, apierr.New(apierr.Invalid, "InvalidProjectError", "a port lease needs a project id", "This is a bug in the caller: pass the project id")
	}
	if fixed != 0 && (fixed < MinPort || fixed > MaxPort) {
		return 0, apierr.Newf(apierr.Invalid, "InvalidPortError", "port %d is outside %d..%d", fixed, MinPort, MaxPort).
			Suggest(fmt.Sprintf("Choose a port between %d and %d, or leave the port unset to get a free one from %d..%d", MinPort, MaxPort, l.min, l.max)).
			With("port", fixed)
	}
	l.mu.Lock()
	defer l.mu.Unlock()

	if fixed != 0 {
		if owner, ok := l.byPort[fixed]; ok && owner != projectID {
			return 0, l.inUse(fixed, fmt.Sprintf("port %d is already leased to project %s", fixed, owner)).With("project_id", owner)
		}
		if err := l.probe(fixed); err != nil {
			return 0, l.inUse(fixed, fmt.Sprintf("port %d is already in use by another process", fixed))
		}
		l.assign(projectID, fixed)
		return fixed, nil
	}
	if prev, ok := l.byProject[projectID]; ok && prev >= l.min && prev <= l.max && l.probe(prev) == nil {
		return prev, nil
	}
	if p, ok := l.findFree(projectID); ok {
		l.assign(projectID, p)
		l.next = p + 1
		if l.next > l.max {
			l.next = l.min
		}
		return p, nil
	}
	return 0, apierr.Newf(apierr.Unavailable, "NoFreePortError", "no free port in %d..%d", l.min, l.max).
		Suggest("Stop projects you do not need, or widen [ports] min/max in launcher.toml")
}

// findFree scans the range once from l.next; ports leased to projectID itself are acceptable.
func (l *Leaser) findFree(projectID string) (int, bool) {
	n := l.max - l.min + 1
	for i := 0; i < n; i++ {
		p := l.min + (l.next-l.min+i)%n
		if owner, ok := l.byPort[p]; ok && owner != projectID {
			continue
		}
		if l.probe(p) == nil {
			return p, true
		}
	}
	return 0, false
}

// assign records the lease, dropping the project's previous one. Callers hold l.mu.
func (l *Leaser) assign(projectID string, port int) {
	if prev, ok := l.byProject[projectID]; ok {
		delete(l.byPort, prev)
	}
	l.byProject[projectID] = port
	l.byPort[port] = projectID
}

// inUse builds the PortInUseError with up to three free ports as suggestions. Callers hold l.mu.
func (l *Leaser) inUse(port int, msg string) *apierr.Error {
	e := apierr.New(apierr.Conflict, "PortInUseError", msg).With("port", port)
	var free []int
	for p := l.min; p <= l.max && len(free) < 3; p++ {
		if _, leased := l.byPort[p]; !leased && p != port && l.probe(p) == nil {
			free = append(free, p)
		}
	}
	if len(free) > 0 {
		e.Suggest(fmt.Sprintf("Use a free port such as %s, or leave the port unset to get one from %d..%d", joinInts(free), l.min, l.max))
		e.With("free_ports", free)
	} else {
		e.Suggest(fmt.Sprintf("Stop the process or project using port %d, or widen [ports] min/max in launcher.toml", port))
	}
	e.Suggest("Try stopping other ComfyUI instances or change the port range in settings")
	return e
}

// Restore re-adopts projectID's lease of port after an agent restart. There is no bind probe:
// the port is expected to be held by the project's own, still running process.
func (l *Leaser) Restore(projectID string, port int) error {
	if projectID == "" || port < MinPort || port > MaxPort {
		return apierr.Newf(apierr.Invalid, "InvalidPortError", "cannot restore port %d for project %q", port, projectID)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if owner, ok := l.byPort[port]; ok && owner != projectID {
		return l.inUse(port, fmt.Sprintf("port %d is already leased to project %s", port, owner)).With("project_id", owner)
	}
	l.assign(projectID, port)
	return nil
}

// Release drops projectID's lease, if any.
func (l *Leaser) Release(projectID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.byProject[projectID]; ok {
		delete(l.byProject, projectID)
		delete(l.byPort, p)
	}
}

// PortOf returns the port leased to projectID.
func (l *Leaser) PortOf(projectID string) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.byProject[projectID]
	return p, ok
}

// bindProbe binds 127.0.0.1:port and closes it at once. ComfyUI is always started on
// 127.0.0.1, and a listener on 0.0.0.0 of the same port makes this bind fail too.
func bindProbe(port int) error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("port %d: %w", port, syscall.EADDRINUSE)
		}
		return fmt.Errorf("probe port %d: %w", port, err)
	}
	return ln.Close()
}

func clamp(p int) int {
	return max(MinPort, min(MaxPort, p))
}

func joinInts(v []int) string {
	s := ""
	for i, n := range v {
		if i > 0 {
			s += ", "
		}
		s += strconv.Itoa(n)
	}
	return s
}
