package ports

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// freeRange returns n consecutive ports that are currently bindable, found by asking the
// kernel for an ephemeral port and checking its neighbours.
func freeRange(t *testing.T, n int) (int, int) {
	t.Helper()
	for try := 0; try < 50; try++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		start := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if start+n > MaxPort {
			continue
		}
		ok := true
		for p := start; p < start+n; p++ {
			if bindProbe(p) != nil {
				ok = false
				break
			}
		}
		if ok {
			return start, start + n - 1
		}
	}
	t.Fatal("no free port range")
	return 0, 0
}

func TestConcurrentLeasesNeverCollide(t *testing.T) {
	min, max := freeRange(t, 40)
	l := New(min, max)
	const projects, cycles = 8, 100
	var (
		mu     sync.Mutex
		holder = map[int]string{} // port -> project, while leased
		wg     sync.WaitGroup
		errs   = make(chan error, projects*cycles)
	)
	for i := 0; i < projects; i++ {
		id := "p" + strconv.Itoa(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := 0; c < cycles; c++ {
				port, err := l.Lease(id, 0)
				if err != nil {
					errs <- fmt.Errorf("%s lease: %w", id, err)
					return
				}
				mu.Lock()
				if other, taken := holder[port]; taken {
					errs <- fmt.Errorf("port %d leased to %s and %s", port, other, id)
				}
				holder[port] = id
				mu.Unlock()
				if got, ok := l.PortOf(id); !ok || got != port {
					errs <- fmt.Errorf("%s: PortOf = %d,%v want %d", id, got, ok, port)
				}
				mu.Lock()
				delete(holder, port)
				mu.Unlock()
				l.Release(id)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := 0; i < projects; i++ {
		if _, ok := l.PortOf("p" + strconv.Itoa(i)); ok {
			t.Errorf("p%d still holds a lease after release", i)
		}
	}
}

func TestLeasesAreUniqueWhileHeld(t *testing.T) {
	min, max := freeRange(t, 10)
	l := New(min, max)
	seen := map[int]string{}
	for i := 0; i < 10; i++ {
		id := "p" + strconv.Itoa(i)
		port, err := l.Lease(id, 0)
		if err != nil {
			t.Fatalf("lease %s: %v", id, err)
		}
		if port < min || port > max {
			t.Fatalf("port %d outside %d..%d", port, min, max)
		}
		if other, dup := seen[port]; dup {
			t.Fatalf("port %d given to %s and %s", port, other, id)
		}
		seen[port] = id
	}
	_, err := l.Lease("one-too-many", 0)
	if apierr.KindOf(err) != apierr.Unavailable {
		t.Fatalf("full range: got %v, want Unavailable NoFreePortError", err)
	}
}

func TestFixedPort(t *testing.T) {
	min, max := freeRange(t, 6)
	outside, _ := freeRange(t, 1)
	tests := []struct {
		name     string
		setup    func(l *Leaser)
		project  string
		port     int
		wantKind apierr.Kind
		wantType string
		ok       bool
	}{
		{name: "free port in range", project: "a", port: min + 2, ok: true},
		{name: "free port outside range", project: "a", port: outside, ok: true},
		{name: "below 1024", project: "a", port: 80, wantKind: apierr.Invalid, wantType: "InvalidPortError"},
		{name: "above 65535", project: "a", port: 70000, wantKind: apierr.Invalid, wantType: "InvalidPortError"},
		{name: "negative", project: "a", port: -1, wantKind: apierr.Invalid, wantType: "InvalidPortError"},
		{name: "leased to another project", project: "a", port: min + 1,
			setup:    func(l *Leaser) { mustLease(t, l, "b", min+1) },
			wantKind: apierr.Conflict, wantType: "PortInUseError"},
		{name: "same project again", project: "a", port: min + 1,
			setup: func(l *Leaser) { mustLease(t, l, "a", min+1) }, ok: true},
		{name: "no project id", project: "", port: min, wantKind: apierr.Invalid, wantType: "InvalidProjectError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := New(min, max)
			if tc.setup != nil {
				tc.setup(l)
			}
			got, err := l.Lease(tc.project, tc.port)
			if tc.ok {
				if err != nil || got != tc.port {
					t.Fatalf("Lease = %d, %v; want %d", got, err, tc.port)
				}
				return
			}
			var e *apierr.Error
			if !errors.As(err, &e) || e.Kind != tc.wantKind || e.Type != tc.wantType {
				t.Fatalf("err = %v; want kind %d type %s", err, tc.wantKind, tc.wantType)
			}
			if len(e.Suggestions) == 0 {
				t.Errorf("%s has no suggestions", e.Type)
			}
		})
	}
}

func mustLease(t *testing.T, l *Leaser, id string, port int) {
	t.Helper()
	if _, err := l.Lease(id, port); err != nil {
		t.Fatalf("lease %s:%d: %v", id, port, err)
	}
}

func TestBindProbeRefusesForeignListener(t *testing.T) {
	min, max := freeRange(t, 3)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(min)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l := New(min, max)

	t.Run("fixed port held by a listener", func(t *testing.T) {
		_, err := l.Lease("a", min)
		var e *apierr.Error
		if !errors.As(err, &e) || e.Type != "PortInUseError" || e.Kind != apierr.Conflict {
			t.Fatalf("err = %v; want PortInUseError", err)
		}
		free, _ := e.Fields["free_ports"].([]int)
		if len(free) == 0 || free[0] == min {
			t.Errorf("free_ports = %v; want ports other than %d", free, min)
		}
	})
	t.Run("any port skips the listener", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			got, err := l.Lease("p"+strconv.Itoa(i), 0)
			if err != nil {
				t.Fatal(err)
			}
			if got == min {
				t.Fatalf("leased port %d that a listener holds", got)
			}
		}
		if _, err := l.Lease("p9", 0); apierr.KindOf(err) != apierr.Unavailable {
			t.Fatalf("range exhausted: err = %v", err)
		}
	})
}

func TestRestoreAndRelease(t *testing.T) {
	min, max := freeRange(t, 4)
	// Restore skips the probe: the port is held by the project's own running process.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(min)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l := New(min, max)
	if err := l.Restore("a", min); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if p, ok := l.PortOf("a"); !ok || p != min {
		t.Fatalf("PortOf = %d,%v", p, ok)
	}
	if err := l.Restore("b", min); apierr.KindOf(err) != apierr.Conflict {
		t.Fatalf("restore of a leased port: err = %v, want Conflict", err)
	}
	if _, err := l.Lease("b", min); apierr.KindOf(err) != apierr.Conflict {
		t.Fatalf("lease of a restored port: err = %v, want Conflict", err)
	}
	l.Release("a")
	if _, ok := l.PortOf("a"); ok {
		t.Fatal("lease survived Release")
	}
	l.Release("a") // idempotent
}
