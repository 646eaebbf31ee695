package project

import (
	"context"
	"fmt"
	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
	"github.com/comfylauncher/launcher/agent/internal/store"
)

type fixtures = projecttest.Fixtures

func TestMain(m *testing.M) { projecttest.Main(m) }

func git(t testing.TB, dir string, args ...string) string { return projecttest.Git(t, dir, args...) }

func writeFiles(t testing.TB, dir string, files map[string]string) {
	projecttest.WriteFiles(t, dir, files)
}

func makeFixtures(t testing.TB) fixtures { return projecttest.MakeFixtures(t) }

func openStore(t testing.TB, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.EnsureBuckets(store.DefaultBuckets...); err != nil {
		t.Fatal(err)
	}
	return db
}

// eventLog records published events.
type eventLog struct {
	mu  sync.Mutex
	got []string
}

func (e *eventLog) Publish(topic, event string, _ any) {
	e.mu.Lock()
	e.got = append(e.got, topic+" "+event)
	e.mu.Unlock()
}

func (e *eventLog) count(s string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, g := range e.got {
		if g == s {
			n++
		}
	}
	return n
}

// memPorts is a port leaser over free loopback ports.
type memPorts struct {
	mu     sync.Mutex
	leases map[string]int
}

func (p *memPorts) Lease(id string, fixed int) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leases == nil {
		p.leases = map[string]int{}
	}
	if fixed != 0 {
		p.leases[id] = fixed
		return fixed, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p.leases[id] = port
	return port, nil
}
func (p *memPorts) Restore(id string, port int) error { return nil }
func (p *memPorts) Release(id string)                 { p.mu.Lock(); delete(p.leases, id); p.mu.Unlock() }
func (p *memPorts) PortOf(id string) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	port, ok := p.leases[id]
	return port, ok
}

// httpSupervisor stands in for the process supervisor: each "process" is a loopback HTTP
// server answering /system_stats.
type httpSupervisor struct {
	mu      sync.Mutex
	servers map[string]*httptest.Server
	specs   map[string]ProcSpec
	pid     int
	// adoptable lists the pids Adopt accepts.
	adoptable map[int]bool
	failStart error
	// portTaken starts fail with PortInUseError first, as when another process binds the
	// leased port before ComfyUI does; leased records the port of every start.
	portTaken int
	leased    []int
}

func newHTTPSupervisor() *httpSupervisor {
	return &httpSupervisor{servers: map[string]*httptest.Server{}, specs: map[string]ProcSpec{}, adoptable: map[int]bool{}, pid: 1000}
}

func (s *httpSupervisor) Start(_ context.Context, spec ProcSpec) (ProcRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failStart != nil {
		return ProcRecord{}, s.failStart
	}
	s.leased = append(s.leased, spec.Port)
	if s.portTaken > 0 {
		s.portTaken--
		return ProcRecord{}, apierr.Newf(apierr.Conflict, "PortInUseError", "port %d is already in use", spec.Port)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"system":{"argv":%q}}`, strings.Join(spec.Args, " "))
	}))
	s.servers[spec.ProjectID] = srv
	s.specs[spec.ProjectID] = spec
	s.pid++
	return ProcRecord{PID: s.pid, PGID: s.pid, StartTime: 42, Port: srv.Listener.Addr().(*net.TCPAddr).Port, StartedAt: time.Now()}, nil
}

func (s *httpSupervisor) Stop(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if srv, ok := s.servers[id]; ok {
		srv.Close()
		delete(s.servers, id)
	}
	return nil
}

func (s *httpSupervisor) Adopt(_ context.Context, spec ProcSpec, rec ProcRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.adoptable[rec.PID] {
		return fmt.Errorf("pid %d is not running", rec.PID)
	}
	s.specs[spec.ProjectID] = spec
	return nil
}

func (s *httpSupervisor) Get(id string) (ProcRecord, bool) { return ProcRecord{}, false }

func (s *httpSupervisor) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, srv := range s.servers {
		srv.Close()
	}
}

type harness struct {
	m    *Manager
	db   *store.DB
	sup  *httpSupervisor
	ev   *eventLog
	fx   fixtures
	opts Options
}

func newHarness(t testing.TB, mutate func(*Options)) *harness {
	t.Helper()
	fx := makeFixtures(t)
	data := t.TempDir()
	h := &harness{db: openStore(t, filepath.Join(data, "db")), sup: newHTTPSupervisor(), ev: &eventLog{}, fx: fx}
	h.opts = Options{DataDir: data, ModelsDir: filepath.Join(data, "models"), Repo: fx.ComfyUI, Ref: "master",
		Python: projecttest.Python(t), PortMin: 4001, PortMax: 4100}
	if mutate != nil {
		mutate(&h.opts)
	}
	h.m = New(Deps{Store: h.db, Publisher: h.ev, Ports: &memPorts{}, Supervisor: h.sup}, h.opts)
	if err := h.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.m.Stop(context.Background())
		h.sup.closeAll()
		h.db.Close()
	})
	return h
}

// waitState polls the project until it reaches a settled state (ready, running or failed).
func waitSettled(t testing.TB, m *Manager, id string) Project {
	t.Helper()
	for i := 0; ; i++ {
		p, err := m.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if p.State == StateReady || p.State == StateFailed || p.State == StateRunning {
			return p
		}
		if i > 6000 {
			t.Fatalf("project %s stuck in %s", id, p.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitState polls the project until it is in want.
func waitState(t testing.TB, m *Manager, id string, want State) Project {
	t.Helper()
	for i := 0; ; i++ {
		p, err := m.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if p.State == want {
			return p
		}
		if i > 3000 {
			t.Fatalf("project %s is %s, want %s", id, p.State, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
