package recovery

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/store"
)

// The helper process is this test binary re-executed with RECOVERY_HELPER=1: it opens a real
// store in RECOVERY_DIR and runs a 3-step operation whose steps append to a marker file.
const envHelper = "RECOVERY_HELPER"

func appendMarker(path, line string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		return err
	}
	return f.Sync()
}

func TestHelperProcess(t *testing.T) {
	if os.Getenv(envHelper) != "1" {
		t.Skip("helper process for TestKillDuringMultiStepOperation")
	}
	dir := os.Getenv("RECOVERY_DIR")
	marker := filepath.Join(dir, "marker")
	block := os.Getenv("RECOVERY_BLOCK") == "1"
	db, err := store.Open(filepath.Join(dir, "db"), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open store:", err)
		os.Exit(2)
	}
	r := New(db, nil, Options{})
	r.Register(Definition{Name: "three_steps", Steps: []Step{
		{Name: "one", Run: func(context.Context, *Op) error { return appendMarker(marker, "one") }},
		{Name: "two", Run: func(ctx context.Context, op *Op) error {
			if err := appendMarker(marker, "two-start"); err != nil {
				return err
			}
			if block {
				<-ctx.Done() // killed here by the parent
				return ctx.Err()
			}
			return appendMarker(marker, "two-done")
		}},
		{Name: "three", Run: func(context.Context, *Op) error { return appendMarker(marker, "three") }},
	}})
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		os.Exit(2)
	}
	idFile := filepath.Join(dir, "op_id")
	var id string
	if os.Getenv("RECOVERY_SUBMIT") == "1" {
		if id, err = r.Submit(ctx, "three_steps", map[string]any{"note": "crash test"}); err != nil {
			fmt.Fprintln(os.Stderr, "submit:", err)
			os.Exit(2)
		}
		if err := os.WriteFile(idFile, []byte(id), 0o644); err != nil {
			os.Exit(2)
		}
	} else {
		b, _ := os.ReadFile(idFile)
		id = string(b)
	}
	op, err := r.Wait(ctx, id)
	if err != nil || op.State != StateSuccess {
		fmt.Fprintln(os.Stderr, "wait:", op.State, op.Error, err)
		os.Exit(3)
	}
	_ = r.Stop(ctx)
	_ = db.Close()
	os.Exit(0)
}

func helperCmd(t *testing.T, dir string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), envHelper+"=1", "RECOVERY_DIR="+dir)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestKillDuringMultiStepOperation(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")

	first := helperCmd(t, dir, "RECOVERY_BLOCK=1", "RECOVERY_SUBMIT=1")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(marker)
		if strings.Contains(string(b), "two-start") {
			break
		}
		if time.Now().After(deadline) {
			first.Process.Kill()
			t.Fatalf("step two never started; marker: %q", b)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()

	second := helperCmd(t, dir, "RECOVERY_BLOCK=0", "RECOVERY_SUBMIT=0")
	done := make(chan error, 1)
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- second.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("restarted agent: %v", err)
		}
	case <-time.After(60 * time.Second):
		second.Process.Kill()
		t.Fatal("restarted agent did not finish the operation")
	}

	b, _ := os.ReadFile(marker)
	if got, want := strings.Fields(string(b)), []string{"one", "two-start", "two-start", "two-done", "three"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("marker = %v, want %v (step one exactly once)", got, want)
	}
	db, err := store.Open(filepath.Join(dir, "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id, _ := os.ReadFile(filepath.Join(dir, "op_id"))
	var op Operation
	if err := db.Get(store.BucketOps, string(id), &op); err != nil {
		t.Fatal(err)
	}
	if op.State != StateSuccess || op.CurrentStep != 3 || op.Steps[0].Attempts != 1 || op.Steps[1].Attempts != 2 {
		t.Fatalf("persisted op: state %s step %d attempts %d/%d", op.State, op.CurrentStep, op.Steps[0].Attempts, op.Steps[1].Attempts)
	}
}
