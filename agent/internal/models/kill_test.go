package models_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	reg := sources.Of(sources.Direct{})
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
		if _, err := svc.Downloads.Submit(ctx, models.DownloadRequest{URL: u, Folder: "checkpoints", Filename: "big.safetensors", SHA256: os.Getenv("AGENT_SHA")}); err != nil {
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
	// Kill once half the file is on disk (not once the server has sent half: loopback socket
	// buffers may hold megabytes the agent never read, an amount that depends on the load).
	for partialSize(dir) < size/2 {
		select {
		case err := <-exited:
			t.Fatalf("agent exited before the kill: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	first.Process.Kill()
	<-exited
	cp := downloadCheckpoint(t, dir)
	// A writer never runs more than one checkpoint (1 MiB) ahead of the last saved one, and
	// the hash state trails the bytes written by at most a buffer.
	if len(cp.Segments) != 1 || cp.Segments[0].Done < size/2-2<<20 || cp.Offset < size/2-2<<20 {
		t.Fatalf("checkpoint %+v (hashed to %d) after %d bytes were on disk: checkpoints fell behind", cp.Segments, cp.Offset, size/2)
	}
	before := len(s.RangeStarts())
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
	if len(starts) <= before || starts[before] != cp.Segments[0].Done {
		t.Errorf("the new agent asked for bytes from %v, want its checkpoint %d", starts[before:], cp.Segments[0].Done)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "models", ".partial")); len(entries) != 0 {
		t.Errorf("partials left behind: %v", entries)
	}
}

// partialSize is the size of the download's partial file under dir (0 before it exists).
func partialSize(dir string) int64 {
	parts, _ := filepath.Glob(filepath.Join(dir, "models", ".partial", "*"))
	var n int64
	for _, p := range parts {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			n = max(n, fi.Size())
		}
	}
	return n
}

// downloadCheckpoint reads the checkpoint a killed agent left in its store.
func downloadCheckpoint(t *testing.T, dir string) download.State {
	t.Helper()
	db, err := store.Open(filepath.Join(dir, "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ops []recovery.Operation
	err = db.Scan(store.BucketOps, "", func(_ string, raw []byte) error {
		var op recovery.Operation
		if err := json.Unmarshal(raw, &op); err != nil {
			return err
		}
		if op.FunctionName == models.FunctionDownload {
			ops = append(ops, op)
		}
		return nil
	})
	if err != nil || len(ops) != 1 {
		t.Fatalf("download operations in the store: %d, %v", len(ops), err)
	}
	for _, step := range ops[0].Steps {
		var st download.State
		if len(step.Checkpoint) > 0 && json.Unmarshal(step.Checkpoint, &st) == nil && st.Offset > 0 {
			return st
		}
	}
	t.Fatalf("no download checkpoint in %+v", ops[0])
	return download.State{}
}
