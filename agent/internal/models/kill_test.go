package models_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/models"
	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/models/sources"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
	"github.com/comfylauncher/launcher/agent/internal/store"
)

const agentHelperEnv = "LAUNCHER_MODELS_AGENT_HELPER"

// TestHelperProcess is a minimal agent: real nutsdb store, recovery runner and model store in
// AGENT_DIR. With AGENT_URL set it submits a download; either way it waits until every
// download operation is finished (the runner resumes unfinished ones on Start) and exits 0 on
// success.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(agentHelperEnv) != "1" {
		t.Skip("helper process")
	}
	dir := os.Getenv("AGENT_DIR")
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(3)
	}
	db, err := store.Open(filepath.Join(dir, "db"), nil)
	if err != nil {
		fail(err)
	}
	runner := recovery.New(db, nil, recovery.Options{})
	reg := sources.NewRegistry()
	reg.Register(sources.Direct{})
	svc, err := models.New(models.Options{ModelsDir: filepath.Join(dir, "models"), Download: download.Options{
		MaxConnections: 1, CheckpointBytes: 1 << 20, CheckpointInterval: time.Hour}}, db, runner, nil, reg)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	svc.Start(ctx)
	if err := runner.Start(ctx); err != nil {
		fail(err)
	}
	if u := os.Getenv("AGENT_URL"); u != "" {
		if _, err := svc.Submit(ctx, models.DownloadRequest{URL: u, Folder: "checkpoints", Filename: "big.safetensors", SHA256: os.Getenv("AGENT_SHA")}); err != nil {
			fail(err)
		}
	}
	ops, _ := runner.List(recovery.Filter{Function: models.FunctionDownload})
	if len(ops) == 0 {
		fail(fmt.Errorf("no download operation to run"))
	}
	for _, op := range ops {
		done, err := runner.Wait(ctx, op.ID)
		if err != nil || done.State != recovery.StateSuccess {
			fail(fmt.Errorf("op %s: %s %s %v", op.ID, done.State, done.Error, err))
		}
	}
	runner.Stop(ctx)
	db.Close()
	os.Exit(0)
}

// TestAgentKillResume kills a whole agent (store, runner, model store) with SIGKILL at about
// half of a download, starts a new one on the same data dir, and checks that the operation
// resumes from its nutsdb checkpoint and publishes the right file.
func TestAgentKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	const size = 16 << 20
	s := faultserver.NewFile(size, 77)
	defer s.Close()
	s.BytesPerSecond.Store(8 << 20)
	dir := t.TempDir()
	child := func(submit bool) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), agentHelperEnv+"=1", "AGENT_DIR="+dir, "AGENT_SHA="+s.SHA256())
		if submit {
			cmd.Env = append(cmd.Env, "AGENT_URL="+s.URL())
		}
		return cmd
	}
	first := child(true)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- first.Wait() }()
	for s.Served() < size/2 {
		select {
		case err := <-exited:
			t.Fatalf("agent exited before the kill: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	first.Process.Kill()
	<-exited
	servedAtKill := s.Served()
	s.BytesPerSecond.Store(0)
	if out, err := child(false).CombinedOutput(); err != nil {
		t.Fatalf("restarted agent: %v\n%s", err, out)
	}
	f, err := os.Open(filepath.Join(dir, "models", "checkpoints", "big.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	if got := hex.EncodeToString(h.Sum(nil)); got != s.SHA256() {
		t.Fatalf("sha256 %s, want %s", got, s.SHA256())
	}
	starts := s.RangeStarts()
	resumedAt := starts[len(starts)-1]
	redownloaded := s.Served() - size
	t.Logf("served at kill %d, resumed at %d, re-downloaded %d", servedAtKill, resumedAt, redownloaded)
	// The server counts bytes it wrote, including what sat unread in loopback socket buffers
	// (up to a few MiB) when the agent died: allow one checkpoint interval plus 2 MiB of those.
	if resumedAt == 0 || redownloaded > 1<<20+2<<20 {
		t.Errorf("resumed at %d, re-downloaded %d bytes: more than one checkpoint interval (1 MiB) plus socket buffers", resumedAt, redownloaded)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "models", ".partial")); len(entries) != 0 {
		t.Errorf("partials left behind: %v", entries)
	}
}
