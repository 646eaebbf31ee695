package project

import (
	"context"
	"strings"
	"testing"
)

// restart simulates an agent restart on the same store: a new manager with a new supervisor.
func (h *harness) restart(t *testing.T, sup *httpSupervisor, mutate func(*Options)) *Manager {
	t.Helper()
	h.m.Stop(context.Background())
	opts := h.opts
	if mutate != nil {
		mutate(&opts)
	}
	m := New(Deps{Store: h.db, Publisher: h.ev, Ports: &memPorts{}, Supervisor: sup}, opts)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(context.Background()); sup.closeAll() })
	h.m = m
	return m
}

func TestRestoreAfterAgentRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		restart string
		alive   bool
		want    State
	}{
		{"live process is re-adopted", RestartNever, true, StateRunning},
		{"dead process becomes ready", RestartNever, false, StateReady},
		{"dead process restarts per policy", RestartAlways, false, StateRunning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			ctx := context.Background()
			p, err := h.m.Create(ctx, CreateRequest{Name: "p", Restart: tc.restart})
			if err != nil {
				t.Fatal(err)
			}
			waitSettled(t, h.m, p.ID)
			p, err = h.m.StartProject(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			sup := newHTTPSupervisor()
			sup.pid = 5000
			if tc.alive {
				sup.adoptable[p.Process.PID] = true
			}
			m := h.restart(t, sup, nil)
			// A restart per policy runs in the background: wait for the wanted state.
			got := waitState(t, m, p.ID, tc.want)
			if got.State != tc.want {
				t.Fatalf("state = %s, want %s", got.State, tc.want)
			}
			port, known := m.Target(p.ID)
			if !known || (port != 0) != (tc.want == StateRunning) {
				t.Fatalf("Target = %d, %v in state %s", port, known, got.State)
			}
			if tc.want == StateReady && got.Process != nil {
				t.Fatal("a stopped project keeps a process record")
			}
		})
	}
}

// An install interrupted in any step finishes after the restart, without redoing finished
// work.
func TestInstallResumesAfterRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := context.Background()
	p, err := h.m.Create(ctx, CreateRequest{Name: "resume"})
	if err != nil {
		t.Fatal(err)
	}
	waitSettled(t, h.m, p.ID)
	// Roll the record back to the middle of the install, as if the agent died there and its
	// operation was lost: the install is submitted again.
	if _, err := h.m.recs.update(p.ID, func(p *Project) { p.State, p.Installed, p.InstallOp = StateInstallCustomNodes, false, "" }); err != nil {
		t.Fatal(err)
	}
	m := h.restart(t, newHTTPSupervisor(), nil)
	got := waitSettled(t, m, p.ID)
	if got.State != StateReady || !got.Installed {
		t.Fatalf("state = %s installed = %v", got.State, got.Installed)
	}
	logs, _, _ := m.logs.Page(p.ID, 1, 1000, "")
	clones, resumed := 0, false
	for _, l := range logs {
		if l.Message == "agent restarted: resuming install at install_custom_nodes" {
			resumed = true
		}
		if len(l.Message) > 11 && l.Message[:11] == "$ git clone" {
			clones++
		}
	}
	if !resumed || clones != 1 {
		t.Fatalf("resumed = %v, git clones = %d (want 1: the checkout was reused)", resumed, clones)
	}
}

func TestDesiredState(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := context.Background()
	m := h.restart(t, newHTTPSupervisor(), func(o *Options) {
		o.ReconcileInterval = -1
		o.Desired = []DesiredProject{{ID: "headless", Name: "Headless", State: "running", LaunchArgs: []string{"--lowvram"}}}
	})
	m.Reconcile(ctx) // creates it
	if p := waitSettled(t, m, "headless"); p.State != StateReady && p.State != StateRunning {
		t.Fatalf("state = %s", p.State)
	}
	m.Reconcile(ctx) // starts it
	p, _ := m.Get("headless")
	if p.State != StateRunning || len(p.LaunchArgs) != 1 {
		t.Fatalf("state = %s args = %v", p.State, p.LaunchArgs)
	}
	m.reconciler.desired[0].State = "stopped"
	m.Reconcile(ctx)
	if p, _ := m.Get("headless"); p.State != StateReady {
		t.Fatalf("after desired stopped: %s", p.State)
	}
}

func TestProcessExit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := context.Background()
	p, _ := h.m.Create(ctx, CreateRequest{Name: "crashy"})
	waitSettled(t, h.m, p.ID)
	if _, err := h.m.StartProject(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	t.Run("a restart keeps it starting", func(t *testing.T) {
		h.m.ProcessEvents().OnExit(p.ID, ProcExit{ExitCode: 1, Cause: "unknown", WillRestart: true})
		if got, _ := h.m.Get(p.ID); got.State != StateStarting {
			t.Fatalf("state = %s", got.State)
		}
		h.m.ProcessEvents().OnReady(p.ID, ProcRecord{PID: 77, Port: 1234})
		if got, _ := h.m.Get(p.ID); got.State != StateRunning || got.Process.PID != 77 {
			t.Fatalf("state = %s process = %+v", got.State, got.Process)
		}
	})
	t.Run("a final exit is failed at run, never running", func(t *testing.T) {
		h.m.ProcessEvents().OnExit(p.ID, ProcExit{ExitCode: 1, Cause: "cuda_oom", Message: "CUDA out of memory",
			Suggestions: []string{"Use --lowvram"}, BreakerOpen: true, BreakerReason: "3 crashes in 60s"})
		got, _ := h.m.Get(p.ID)
		if got.State != StateFailed || got.Failure.Step != "run" || got.Process != nil ||
			!strings.Contains(got.Failure.Error, "CUDA out of memory") || got.Failure.Suggestions[0] != "Use --lowvram" {
			t.Fatalf("project = %+v failure = %+v", got, got.Failure)
		}
		if port, _ := h.m.Target(p.ID); port != 0 {
			t.Fatal("failed project is still a proxy target")
		}
	})
	t.Run("an exit after stop is ignored", func(t *testing.T) {
		h.m.ProcessEvents().OnExit(p.ID, ProcExit{ExitCode: 0})
		if got, _ := h.m.Get(p.ID); got.Failure == nil || got.Failure.Error == "" {
			t.Fatal("failure overwritten")
		}
	})
}
