package bind

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/project"
	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/store"
)

type agent struct {
	db     *store.DB
	runner *recovery.Runner
	m      *project.Manager
}

// startAgent wires the manager on the real store and recovery runner in the documented
// order: register the install operation, start the runner, start the manager.
func startAgent(t *testing.T, db *store.DB, opts project.Options) *agent {
	t.Helper()
	r := recovery.New(db, nil, recovery.Options{Policies: map[recovery.Class]recovery.Policy{
		recovery.ClassUnknown: {Retry: false, MaxAttempts: 1},
	}})
	m := project.New(project.Deps{Store: db, Ops: RecoveryOps{Runner: r}}, opts)
	if err := m.Register(); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	a := &agent{db: db, runner: r, m: m}
	t.Cleanup(a.stop)
	return a
}

func (a *agent) stop() {
	ctx := context.Background()
	a.m.Stop(ctx)
	a.runner.Stop(ctx)
}

func settled(t *testing.T, m *project.Manager, id string) project.Project {
	t.Helper()
	for i := 0; i < 6000; i++ {
		p, err := m.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if p.State == project.StateReady || p.State == project.StateFailed {
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("project %s never settled", id)
	return project.Project{}
}

// TestInstallOnRecoveryRunner: the install is a recovery operation; a failure is the failed
// state with its step and error, and a retry of the same operation finishes it.
func TestInstallOnRecoveryRunner(t *testing.T) {
	t.Parallel()
	fx := projecttest.MakeFixtures(t)
	data := t.TempDir()
	db, err := store.Open(filepath.Join(data, "db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	opts := project.Options{DataDir: data, ModelsDir: filepath.Join(data, "models"), Repo: fx.ComfyUI, Ref: "v2.0.0", Python: projecttest.Python(t)}
	a := startAgent(t, db, opts)

	p, err := a.m.Create(context.Background(), project.CreateRequest{Name: "rec"})
	if err != nil {
		t.Fatal(err)
	}
	p = settled(t, a.m, p.ID)
	if p.State != project.StateFailed || p.Failure == nil || p.Failure.Step != "download_comfyui" || !strings.Contains(p.Failure.Error, "v2.0.0") {
		t.Fatalf("state %s failure %+v", p.State, p.Failure)
	}
	op, err := a.runner.Get(p.InstallOp)
	if err != nil || op.FunctionName != project.InstallFunction || op.State.Active() {
		t.Fatalf("op = %+v, %v", op, err)
	}

	projecttest.Git(t, fx.ComfyUI, "tag", "v2.0.0")
	if _, err := a.m.Retry(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
	p = settled(t, a.m, p.ID)
	if p.State != project.StateReady || !p.Installed {
		t.Fatalf("after retry: %s %+v", p.State, p.Failure)
	}
	// The project is ready inside the last step; the operation ends right after it.
	op, err = a.runner.Wait(context.Background(), p.InstallOp)
	if err != nil || op.State != recovery.StateSuccess {
		t.Fatalf("op state %s, %v", op.State, err)
	}
}

// TestMain removes the template venv projecttest.Python builds once for the package.
func TestMain(m *testing.M) { projecttest.Main(m) }
