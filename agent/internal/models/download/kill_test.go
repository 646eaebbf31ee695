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
// that it completes with the right sha256 and asks only for bytes it had not checkpointed.
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
			// saved is what the child has checkpointed: Done per segment.
			checkpoint := func() (download.State, int64) {
				var st download.State
				download.FileState(filepath.Join(dir, ".partial", "m.json")).Load(&st)
				var saved int64
				for _, sg := range st.Segments {
					saved += sg.Done
				}
				return st, saved
			}
			// Kill once half the file is checkpointed (not once the server has sent half:
			// loopback socket buffers hold an amount that depends on the load).
			for _, saved := checkpoint(); saved < size/2; _, saved = checkpoint() {
				select {
				case err := <-done:
					t.Fatalf("child finished before the kill: %v", err)
				case <-time.After(5 * time.Millisecond):
				}
			}
			cmd.Process.Kill() // SIGKILL: no deferred cleanup, no final checkpoint
			<-done
			st, saved := checkpoint()
			before := len(s.RangeStarts())
			s.BytesPerSecond.Store(0)
			if out, err := child().CombinedOutput(); err != nil {
				t.Fatalf("restarted child: %v\n%s", err, out)
			}
			if got := fileSHA(t, filepath.Join(dir, "checkpoints", "m.safetensors")); got != s.SHA256() {
				t.Fatalf("sha256 %s, want %s", got, s.SHA256())
			}
			// The restarted child asks only for bytes it had not checkpointed.
			resumed := s.RangeStarts()[before:]
			t.Logf("checkpointed %d of %d; the restarted child requested from %v", saved, size, resumed)
			if len(resumed) == 0 {
				t.Fatal("the restarted child made no request")
			}
			// Its first request for each unfinished segment starts where the checkpoint ends it;
			// no request asks again for a checkpointed byte.
			for _, r := range resumed {
				if checkpointed(st, r) {
					t.Errorf("the restarted child requested byte %d again, checkpointed in %+v", r, st.Segments)
				}
			}
			if !resumePoint(st, resumed[0]) {
				t.Errorf("the restarted child started at %d, not where a checkpoint ends (%+v)", resumed[0], st.Segments)
			}
		})
	}
}

// checkpointed says whether offset lies in the bytes st records as synced.
func checkpointed(st download.State, offset int64) bool {
	for _, sg := range st.Segments {
		if offset >= sg.Start && offset < sg.Start+sg.Done {
			return true
		}
	}
	return false
}

// resumePoint says whether offset is where st's checkpointed bytes of an unfinished segment
// end.
func resumePoint(st download.State, offset int64) bool {
	for _, sg := range st.Segments {
		if sg.Start+sg.Done < sg.End && offset == sg.Start+sg.Done {
			return true
		}
	}
	return false
}
