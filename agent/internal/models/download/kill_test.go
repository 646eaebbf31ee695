package download_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
)

const helperEnv = "LAUNCHER_DOWNLOAD_HELPER"

// TestHelperProcess is the child of TestKillResume: it runs the real downloader on the real
// store paths it is given and exits 0 once the file is published.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process")
	}
	dir := os.Getenv("DL_DIR")
	var conns int
	fmt.Sscan(os.Getenv("DL_CONNS"), &conns)
	d := download.New(download.Options{MaxConnections: conns, InitialConnections: conns, ParallelMinSize: 1 << 20, CheckpointBytes: 1 << 20,
		CheckpointInterval: time.Hour, NoReserve: false})
	req := download.Request{URL: os.Getenv("DL_URL"), SHA256: os.Getenv("DL_SHA"),
		Dest: filepath.Join(dir, "checkpoints", "m.safetensors"), Part: filepath.Join(dir, ".partial", "m.part")}
	_, err := d.Download(context.Background(), req, download.FileState(filepath.Join(dir, ".partial", "m.json")), nil, 5, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "download:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

// TestKillResume kills the downloading process at about half the file, restarts it, and checks
// that it completes with the right sha256 while re-downloading at most one checkpoint interval
// (1 MiB here) plus the bytes in flight.
func TestKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for _, conns := range []int{1, 4} {
		t.Run(fmt.Sprintf("connections=%d", conns), func(t *testing.T) {
			const size = 16 << 20
			s := faultserver.NewFile(size, 42)
			defer s.Close()
			s.BytesPerSecond.Store(8 << 20)
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, ".partial"), 0o755)
			child := func() *exec.Cmd {
				cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
				cmd.Env = append(os.Environ(), helperEnv+"=1", "DL_DIR="+dir, "DL_URL="+s.URL(), "DL_SHA="+s.SHA256(), fmt.Sprintf("DL_CONNS=%d", conns))
				return cmd
			}
			cmd := child()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			killed := false
		wait:
			for {
				select {
				case err := <-done:
					t.Fatalf("child finished before the kill: %v", err)
				default:
				}
				if s.Served() >= size/2 {
					cmd.Process.Kill() // SIGKILL: no deferred cleanup, no final checkpoint
					killed = true
					<-done
					break wait
				}
				time.Sleep(5 * time.Millisecond)
			}
			if !killed {
				t.Fatal("not killed")
			}
			servedAtKill := s.Served()
			var st download.State
			download.FileState(filepath.Join(dir, ".partial", "m.json")).Load(&st)
			var saved int64
			for _, sg := range st.Segments {
				saved += sg.Done
			}
			s.BytesPerSecond.Store(0)
			if out, err := child().CombinedOutput(); err != nil {
				t.Fatalf("restarted child: %v\n%s", err, out)
			}
			if got := fileSHA(t, filepath.Join(dir, "checkpoints", "m.safetensors")); got != s.SHA256() {
				t.Fatalf("sha256 %s, want %s", got, s.SHA256())
			}
			redownloaded := s.Served() - size
			// One checkpoint interval (1 MiB) per connection, plus what sat unread in loopback
			// socket buffers when the process died (the server counts it as served).
			bound := int64(conns)*(1<<20) + 2<<20
			t.Logf("served at kill %d, checkpointed %d, re-downloaded %d (bound %d)", servedAtKill, saved, redownloaded, bound)
			if saved == 0 {
				t.Errorf("no checkpoint was saved before the kill")
			}
			if redownloaded > bound {
				t.Errorf("re-downloaded %d bytes, more than %d", redownloaded, bound)
			}
		})
	}
}
