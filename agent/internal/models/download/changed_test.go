package download_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
)

// recordingState is a FileState that remembers every state saved.
type recordingState struct {
	download.FileState
	mu    sync.Mutex
	saved []download.State
}

func (r *recordingState) Save(s download.State) error {
	r.mu.Lock()
	r.saved = append(r.saved, s)
	r.mu.Unlock()
	return r.FileState.Save(s)
}

// TestChangedFileNeverSpliced: the file is replaced between two requests and the server
// ignores If-Range, answering 206 with a slice of the new file under its new ETag. Without a
// sha256 to catch it, only the validator check on every response keeps the old bytes from
// being published with the new ones; the download restarts from zero, records the new
// validator, and publishes the new file whole.
func TestChangedFileNeverSpliced(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		opt    download.Options
		faults []faultserver.FileFault
	}{
		{
			name:   "resume after a reset",
			faults: []faultserver.FileFault{{ResetAfter: 1 << 20}, {NewVersion: true, IgnoreIfRange: true}},
		},
		{
			name:   "another connection's segment",
			opt:    download.Options{MaxConnections: 3, InitialConnections: 3, ParallelMinSize: 1 << 20, MinSegment: 256 << 10},
			faults: []faultserver.FileFault{{}, {NewVersion: true, IgnoreIfRange: true}},
		},
		{
			name:   "the next piece of the same connection",
			opt:    download.Options{MinSegment: 256 << 10},
			faults: []faultserver.FileFault{{}, {NewVersion: true, IgnoreIfRange: true}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := faultserver.NewFile(testSize, 11)
			defer s.Close()
			oldETag := s.ETag()
			s.Inject(tc.faults...)
			e := newEnv(t, s.URL(), "")
			rec := &recordingState{FileState: e.state}
			res, err := newDownloader(tc.opt).Download(context.Background(), e.req, rec, nil, 5, (&noSleep{}).sleep)
			if err != nil {
				t.Fatalf("download: %v", err)
			}
			newETag := s.ETag()
			if newETag == oldETag {
				t.Fatal("the fault did not replace the file")
			}
			if got := fileSHA(t, e.req.Dest); got != s.SHA256() || res.SHA256 != got {
				t.Fatalf("published %s (result %s), want the new file %s: old and new bytes were spliced", got, res.SHA256, s.SHA256())
			}
			if res.Validator != newETag || res.Restarts != 1 {
				t.Errorf("validator %s restarts %d, want %s and 1", res.Validator, res.Restarts, newETag)
			}
			// The checkpoint moved to the new validator with nothing of the old file kept.
			found := false
			for _, st := range rec.saved {
				if st.Validator == newETag {
					found = true
					for _, sg := range st.Segments {
						if sg.Start == 0 && sg.Done > 0 && st.Restarts == 0 {
							t.Errorf("a state with the new validator kept old bytes: %+v", st)
						}
					}
				}
			}
			if !found {
				t.Errorf("no checkpoint recorded the new validator %s", newETag)
			}
		})
	}
}

// TestNoBytesPastSegments: every request is a bounded range, so a clean download fetches each
// byte exactly once, whatever the number of connections.
func TestNoBytesPastSegments(t *testing.T) {
	t.Parallel()
	for _, conns := range []int{1, 4} {
		t.Run(fmt.Sprintf("connections=%d", conns), func(t *testing.T) {
			t.Parallel()
			const size = 9<<20 + 777
			s := faultserver.NewFile(size, 12)
			defer s.Close()
			e := newEnv(t, s.URL(), s.SHA256())
			var readBack atomic.Int64
			d := newDownloader(download.Options{MaxConnections: conns, InitialConnections: conns, ParallelMinSize: 1 << 20,
				MinSegment: 256 << 10, OpenFile: countingOpen(&readBack)})
			res, err := d.Fetch(context.Background(), e.req, e.state, nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.Served() != size {
				t.Errorf("server sent %d bytes for a %d-byte file (%d extra)", s.Served(), size, s.Served()-size)
			}
			if res.Connections != conns {
				t.Errorf("used %d connections, want %d", res.Connections, conns)
			}
			// One connection is hashed from its buffers; with several, only bytes that arrived
			// ahead of the prefix are read back, never the whole file a second time.
			if conns == 1 && readBack.Load() != 0 {
				t.Errorf("read back %d bytes to hash a single-stream download, want 0", readBack.Load())
			}
			if readBack.Load() >= size {
				t.Errorf("read back %d bytes, a second pass over the file", readBack.Load())
			}
		})
	}
}

// countingFile counts the bytes read back from the partial.
type countingFile struct {
	*os.File
	n *atomic.Int64
}

func (c countingFile) ReadAt(p []byte, off int64) (int, error) {
	m, err := c.File.ReadAt(p, off)
	c.n.Add(int64(m))
	return m, err
}

func countingOpen(n *atomic.Int64) func(string) (download.File, error) {
	return func(name string) (download.File, error) {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		return countingFile{f, n}, err
	}
}

// TestResumeRestoresHashState: a resumed single-stream download continues the checkpointed
// sha256 state and reads nothing of the partial back.
func TestResumeRestoresHashState(t *testing.T) {
	t.Parallel()
	s := faultserver.NewFile(testSize, 13)
	defer s.Close()
	s.Inject(faultserver.FileFault{ResetAfter: 2 << 20})
	e := newEnv(t, s.URL(), s.SHA256())
	var readBack atomic.Int64
	d := newDownloader(download.Options{CheckpointBytes: 1 << 20, OpenFile: countingOpen(&readBack)})
	if _, err := d.Fetch(context.Background(), e.req, e.state, nil); err == nil {
		t.Fatal("first attempt should fail on the reset")
	}
	var st download.State
	e.state.Load(&st)
	if st.Offset == 0 || len(st.Hash) == 0 {
		t.Fatalf("no hash state checkpointed: %+v", st)
	}
	if _, err := d.Fetch(context.Background(), e.req, e.state, nil); err != nil {
		t.Fatal(err)
	}
	if readBack.Load() != 0 {
		t.Errorf("read back %d bytes on resume, want 0 (hash state restored at %d)", readBack.Load(), st.Offset)
	}
	if fileSHA(t, e.req.Dest) != s.SHA256() {
		t.Error("wrong content")
	}
}

// TestConnectionsAdaptToThrottledHost: a host that throttles each connection gets more
// connections (the throughput doubles with them, far above the 20% the adapter asks for).
func TestConnectionsAdaptToThrottledHost(t *testing.T) {
	t.Parallel()
	const size = 12 << 20
	s := faultserver.NewFile(size, 14)
	defer s.Close()
	s.BytesPerSecond.Store(4 << 20) // per request, i.e. per connection
	e := newEnv(t, s.URL(), s.SHA256())
	d := newDownloader(download.Options{MaxConnections: 4, ParallelMinSize: 1 << 20, MinSegment: 256 << 10, AdaptInterval: 100 * time.Millisecond})
	res, err := d.Fetch(context.Background(), e.req, e.state, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Connections < 2 {
		t.Errorf("peak connections %d, want more than one for a per-connection throttled host", res.Connections)
	}
	if s.Served() != size {
		t.Errorf("served %d bytes, want %d (no byte past a segment)", s.Served(), size)
	}
	if got := fileSHA(t, e.req.Dest); got != s.SHA256() {
		t.Error("wrong content")
	}
}
