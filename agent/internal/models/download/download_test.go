package download_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/recovery/breaker"
	"github.com/comfylauncher/launcher/agent/internal/recovery/clock"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
)

const testSize = 3<<20 + 12345

type env struct {
	dir   string
	req   download.Request
	state download.FileState
}

func newEnv(t *testing.T, url, sha string) env {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, ".partial"), 0o755)
	return env{
		dir: dir,
		req: download.Request{URL: url, Dest: filepath.Join(dir, "checkpoints", "m.safetensors"),
			Part: filepath.Join(dir, ".partial", "m.part"), SHA256: sha},
		state: download.FileState(filepath.Join(dir, ".partial", "m.json")),
	}
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}

func partSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// noSleep records backoff waits instead of sleeping.
type noSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (n *noSleep) sleep(_ context.Context, d time.Duration) error {
	n.mu.Lock()
	n.waits = append(n.waits, d)
	n.mu.Unlock()
	return nil
}

func newDownloader(opt download.Options) *download.Downloader {
	if opt.StallTimeout == 0 {
		opt.StallTimeout = 5 * time.Second
	}
	if opt.MaxConnections == 0 {
		opt.MaxConnections = 1
	}
	opt.FreeSpace = orDefault(opt.FreeSpace)
	return download.New(opt)
}

func orDefault(f func(string) (uint64, uint64, error)) func(string) (uint64, uint64, error) {
	if f != nil {
		return f
	}
	return func(string) (uint64, uint64, error) { return 1 << 40, 1 << 41, nil }
}

// TestFaults drives every fault of the issue through Download: each case must end with the
// right file in the store or a clear error, and never a corrupt file at the destination.
func TestFaults(t *testing.T) {
	cases := []struct {
		name      string
		faults    []faultserver.FileFault
		wrongSHA  bool
		noSHA     bool // the content changes, so the expected hash is unknown
		opt       download.Options
		attempts  int
		wantErr   error
		wantClass recovery.Class
		check     func(t *testing.T, s *faultserver.FileServer, e env, ns *noSleep, res download.Result)
	}{
		{name: "clean"},
		{
			name:   "connection reset mid-body",
			faults: []faultserver.FileFault{{ResetAfter: 1 << 20}},
			check: func(t *testing.T, s *faultserver.FileServer, _ env, _ *noSleep, _ download.Result) {
				if st := s.RangeStarts(); len(st) != 2 || st[1] <= 0 {
					t.Errorf("second request should resume at the checkpoint, range starts %v", st)
				}
			},
		},
		{
			name:   "stall",
			faults: []faultserver.FileFault{{StallAfter: 512 << 10}},
			opt:    download.Options{StallTimeout: 300 * time.Millisecond},
		},
		{
			name:   "5xx then success",
			faults: []faultserver.FileFault{{Status: 503, Body: "<html>busy</html>"}, {Status: 500}, {Status: 502}},
			check: func(t *testing.T, s *faultserver.FileServer, _ env, _ *noSleep, _ download.Result) {
				if s.Requests() != 4 {
					t.Errorf("requests = %d, want 4", s.Requests())
				}
			},
		},
		{
			name:   "429 with Retry-After",
			faults: []faultserver.FileFault{{Status: 429, RetryAfter: "7"}},
			check: func(t *testing.T, _ *faultserver.FileServer, _ env, ns *noSleep, _ download.Result) {
				if len(ns.waits) != 1 || ns.waits[0] != 7*time.Second {
					t.Errorf("waits = %v, want [7s] from Retry-After", ns.waits)
				}
			},
		},
		{
			name:   "range ignored (200) on resume",
			faults: []faultserver.FileFault{{ResetAfter: 1 << 20}, {IgnoreRange: true}},
			check: func(t *testing.T, _ *faultserver.FileServer, _ env, _ *noSleep, res download.Result) {
				if res.Restarts != 1 {
					t.Errorf("restarts = %d, want 1", res.Restarts)
				}
			},
		},
		{
			name:   "etag changed between attempts",
			faults: []faultserver.FileFault{{ResetAfter: 1 << 20}, {NewVersion: true}},
			noSHA:  true,
			check: func(t *testing.T, s *faultserver.FileServer, e env, _ *noSleep, res download.Result) {
				if want := s.SHA256(); res.SHA256 != want || fileSHA(t, e.req.Dest) != want {
					t.Errorf("file is not the new version: %s, want %s", res.SHA256, want)
				}
			},
		},
		{
			name:   "wrong Content-Range start",
			faults: []faultserver.FileFault{{ResetAfter: 1 << 20}, {WrongStart: -4096}},
			check: func(t *testing.T, s *faultserver.FileServer, _ env, _ *noSleep, _ download.Result) {
				st := s.RangeStarts()
				if len(st) != 3 || st[1] != st[2] || st[1] <= 0 {
					t.Errorf("after a bad 206 the partial must be kept and resumed from the same byte, range starts %v", st)
				}
			},
		},
		{name: "truncated body with correct Content-Length", faults: []faultserver.FileFault{{TruncateAfter: 2 << 20}}},
		{name: "corrupt byte then clean", faults: []faultserver.FileFault{{Corrupt: 12345}}},
		{
			name:      "HTML error page",
			faults:    []faultserver.FileFault{{HTML: true}},
			wantErr:   download.ErrHTMLPage,
			wantClass: recovery.ClassIntegrity,
		},
		{
			name:      "checksum mismatch",
			wrongSHA:  true,
			wantErr:   download.ErrChecksum,
			wantClass: recovery.ClassIntegrity,
			check: func(t *testing.T, s *faultserver.FileServer, _ env, _ *noSleep, _ download.Result) {
				if s.Requests() != 2 {
					t.Errorf("requests = %d, want 2 (two mismatches in a row are permanent)", s.Requests())
				}
			},
		},
		{
			name:      "compressed body although identity was asked",
			faults:    []faultserver.FileFault{{ContentEncoding: "gzip"}, {ContentEncoding: "gzip"}, {ContentEncoding: "gzip"}, {ContentEncoding: "gzip"}, {ContentEncoding: "gzip"}},
			wantClass: recovery.ClassIntegrity,
		},
		{name: "compressed once, then identity", faults: []faultserver.FileFault{{ContentEncoding: "gzip"}}},
		{name: "404", faults: []faultserver.FileFault{{Status: 404}}, wantClass: recovery.ClassNotFound},
		{name: "401 gated", faults: []faultserver.FileFault{{Status: 401}}, wantClass: recovery.ClassAuth},
		{
			name:     "5xx forever",
			faults:   []faultserver.FileFault{{Status: 503}, {Status: 503}, {Status: 503}},
			attempts: 3, wantClass: recovery.ClassNetwork,
		},
		{name: "parallel segments", opt: download.Options{MaxConnections: 4, InitialConnections: 4, ParallelMinSize: 1 << 20, MinSegment: 256 << 10}},
		{
			name:   "parallel segments with a reset",
			faults: []faultserver.FileFault{{}, {ResetAfter: 100 << 10}},
			opt:    download.Options{MaxConnections: 3, InitialConnections: 3, ParallelMinSize: 1 << 20, MinSegment: 256 << 10},
		},
		{
			name:   "parallel segments, file changed",
			faults: []faultserver.FileFault{{}, {NewVersion: true}},
			noSHA:  true,
			opt:    download.Options{MaxConnections: 3, InitialConnections: 3, ParallelMinSize: 1 << 20, MinSegment: 256 << 10},
			check: func(t *testing.T, s *faultserver.FileServer, e env, _ *noSleep, res download.Result) {
				if want := s.SHA256(); fileSHA(t, e.req.Dest) != want {
					t.Errorf("file is not the new version")
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := faultserver.NewFile(testSize, 1)
			defer s.Close()
			sha := s.SHA256()
			if tc.wrongSHA {
				sha = "00" + sha[2:]
			}
			if tc.noSHA {
				sha = ""
			}
			s.Inject(tc.faults...)
			e := newEnv(t, s.URL(), sha)
			ns := &noSleep{}
			attempts := tc.attempts
			if attempts == 0 {
				attempts = 5
			}
			d := newDownloader(tc.opt)
			res, err := d.Download(context.Background(), e.req, e.state, nil, attempts, ns.sleep)
			if tc.wantErr != nil || tc.wantClass != "" {
				if err == nil {
					t.Fatalf("want error, got success")
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("err = %v, want %v", err, tc.wantErr)
				}
				if c := download.ClassOf(err); tc.wantClass != "" && c != tc.wantClass {
					t.Errorf("class = %s, want %s (%v)", c, tc.wantClass, err)
				}
				if _, serr := os.Stat(e.req.Dest); serr == nil {
					t.Errorf("a failed download left a file in the store")
				}
				if n := partSize(e.req.Part); n > 0 && (errors.Is(err, download.ErrHTMLPage) || errors.Is(err, download.ErrChecksum)) {
					t.Errorf("partial holds %d bytes of a bad body", n)
				}
			} else {
				if err != nil {
					t.Fatalf("download: %v", err)
				}
				if got := fileSHA(t, e.req.Dest); got != s.SHA256() || res.SHA256 != got || res.Size != testSize {
					t.Errorf("file sha %s size %d, want %s %d", got, res.Size, s.SHA256(), testSize)
				}
				if _, err := os.Stat(e.req.Part); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("partial still present after publish")
				}
			}
			if tc.check != nil {
				tc.check(t, s, e, ns, res)
			}
		})
	}
}

// TestCompleteOn416 resumes a partial that already holds every byte: the server answers 416
// bytes */N and the download finishes without fetching anything.
func TestCompleteOn416(t *testing.T) {
	s := faultserver.NewFile(testSize, 2)
	defer s.Close()
	e := newEnv(t, s.URL(), s.SHA256())
	data, _ := io.ReadAll(s.Reader())
	os.WriteFile(e.req.Part, data, 0o644)
	h := sha256.New()
	h.Write(data)
	hs, _ := h.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary()
	e.state.Save(download.State{URL: e.req.URL, SHA256: e.req.SHA256, Validator: s.ETag(), Size: testSize, Offset: testSize, Hash: hs})
	res, err := newDownloader(download.Options{}).Fetch(context.Background(), e.req, e.state, nil)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if res.SHA256 != s.SHA256() || s.Served() != 0 {
		t.Errorf("sha %s served %d, want %s and 0 bytes", res.SHA256, s.Served(), s.SHA256())
	}
}

// TestResumeWithoutValidatorRestarts: a partial with no saved validator is never trusted.
func TestResumeWithoutValidatorRestarts(t *testing.T) {
	s := faultserver.NewFile(testSize, 3)
	defer s.Close()
	e := newEnv(t, s.URL(), s.SHA256())
	os.WriteFile(e.req.Part, []byte("garbage from another download"), 0o644)
	e.state.Save(download.State{URL: e.req.URL, SHA256: e.req.SHA256, Size: -1, Offset: 30})
	if _, err := newDownloader(download.Options{}).Fetch(context.Background(), e.req, e.state, nil); err != nil {
		t.Fatal(err)
	}
	if st := s.RangeStarts(); st[0] != 0 {
		t.Errorf("range start %d, want 0", st[0])
	}
	if fileSHA(t, e.req.Dest) != s.SHA256() {
		t.Error("wrong content")
	}
}

// cappedFile fails writes past cap with ENOSPC, like a full filesystem.
type cappedFile struct {
	*os.File
	cap int64
}

func (c cappedFile) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > c.cap {
		n := max(0, c.cap-off)
		if n > 0 {
			c.File.WriteAt(p[:n], off)
		}
		return int(n), &os.PathError{Op: "write", Path: c.Name(), Err: syscall.ENOSPC}
	}
	return c.File.WriteAt(p, off)
}

func TestDiskFull(t *testing.T) {
	t.Run("refused before writing", func(t *testing.T) {
		s := faultserver.NewFile(testSize, 4)
		defer s.Close()
		e := newEnv(t, s.URL(), s.SHA256())
		d := newDownloader(download.Options{FreeSpace: func(string) (uint64, uint64, error) { return 1 << 20, 1 << 30, nil }})
		_, err := d.Fetch(context.Background(), e.req, e.state, nil)
		if !errors.Is(err, download.ErrNoSpace) || download.ClassOf(err) != recovery.ClassResource {
			t.Fatalf("err = %v, want ErrNoSpace (resource)", err)
		}
		if n := partSize(e.req.Part); n != 0 {
			t.Errorf("partial has %d bytes, want 0 (nothing written)", n)
		}
	})
	t.Run("ENOSPC mid-transfer keeps the partial", func(t *testing.T) {
		s := faultserver.NewFile(testSize, 5)
		defer s.Close()
		e := newEnv(t, s.URL(), s.SHA256())
		capped := newDownloader(download.Options{OpenFile: func(name string) (download.File, error) {
			f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
			return cappedFile{f, 2<<20 + 7}, err
		}, CheckpointBytes: 1 << 20})
		_, err := capped.Fetch(context.Background(), e.req, e.state, nil)
		if !errors.Is(err, download.ErrNoSpace) || download.ClassOf(err) != recovery.ClassResource {
			t.Fatalf("err = %v, want ErrNoSpace", err)
		}
		if n := partSize(e.req.Part); n <= 0 || n > 2<<20+7 {
			t.Fatalf("partial has %d bytes, want the bytes written before the disk filled", n)
		}
		var st download.State
		e.state.Load(&st)
		// Space is back: the next attempt resumes from the kept partial.
		if _, err := newDownloader(download.Options{}).Fetch(context.Background(), e.req, e.state, nil); err != nil {
			t.Fatal(err)
		}
		if starts := s.RangeStarts(); len(st.Segments) != 1 || starts[1] != st.Segments[0].Done || st.Offset != st.Segments[0].Done || st.Offset == 0 {
			t.Errorf("resumed at %d, saved segments %+v, hashed to %d", starts[1], st.Segments, st.Offset)
		}
		if fileSHA(t, e.req.Dest) != s.SHA256() {
			t.Error("wrong content after resume")
		}
	})
}

// TestCredentialsDroppedOnCrossHostRedirect: the token goes to its host, never to the CDN.
func TestCredentialsDroppedOnCrossHostRedirect(t *testing.T) {
	cdn := faultserver.NewFile(testSize, 6)
	defer cdn.Close()
	var mu sync.Mutex
	seen := map[string]string{}
	cdnAuth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen["cdn"] = r.Header.Get("Authorization") + r.Header.Get("X-Api-Key")
		mu.Unlock()
		cdn.ServeHTTP(w, r)
	}))
	defer cdnAuth.Close()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen["origin"] = r.Header.Get("X-Api-Key")
		mu.Unlock()
		w.Header().Set("X-Linked-Etag", "\"abc\"")
		http.Redirect(w, r, cdnAuth.URL+"/file", http.StatusFound)
	}))
	defer origin.Close()
	e := newEnv(t, origin.URL+"/resolve/main/m.safetensors", cdn.SHA256())
	originHost := origin.Listener.Addr().String()
	d := newDownloader(download.Options{Credentials: func(host string) (download.Credential, bool) {
		if host == "127.0.0.1" || host == originHost {
			return download.Credential{Header: "X-Api-Key", Value: "secret"}, true
		}
		return download.Credential{}, false
	}})
	res, err := d.Fetch(context.Background(), e.req, e.state, nil)
	if err != nil {
		t.Fatal(err)
	}
	if seen["origin"] != "secret" || seen["cdn"] != "" {
		t.Errorf("origin got %q, cdn got %q; want the key at the origin only", seen["origin"], seen["cdn"])
	}
	if res.LinkedETag != "\"abc\"" {
		t.Errorf("linked etag %q, want the redirect's X-Linked-Etag", res.LinkedETag)
	}
}

// TestBreakerOpensAndRecovers: the per-host breaker (recovery's breaker type) opens after the
// threshold of network failures, fails fast while open, probes after the cooldown and closes
// on a good probe, telling OnChange of every transition.
func TestBreakerOpensAndRecovers(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	h := download.NewHosts(2, 3, time.Minute, clk)
	var mu sync.Mutex
	var changes []string
	h.OnChange(func(c download.HostBreaker) {
		mu.Lock()
		changes = append(changes, fmt.Sprintf("%s %s->%s trips=%d", c.Host, c.From, c.To, c.Trips))
		mu.Unlock()
	})
	netErr := &download.Error{Class: recovery.ClassNetwork, Err: errors.New("503")}
	for range 3 {
		l, err := h.Acquire(context.Background(), "hf")
		if err != nil {
			t.Fatal(err)
		}
		l.Report(netErr)
		l.Release()
	}
	if _, err := h.Acquire(context.Background(), "hf"); !errors.Is(err, download.ErrBreakerOpen) || download.RetryAfterOf(err) != time.Minute {
		t.Fatalf("err = %v, want open breaker with 1m retry-after", err)
	}
	// Auth failures do not trip the breaker of another host.
	for range 5 {
		l, _ := h.Acquire(context.Background(), "civitai")
		l.Report(&download.Error{Class: recovery.ClassAuth, Err: errors.New("401")})
		l.Release()
	}
	if h.State("civitai") != breaker.Closed {
		t.Error("auth errors must not open the breaker")
	}
	clk.Advance(time.Minute)
	l, err := h.Acquire(context.Background(), "hf")
	if err != nil || h.State("hf") != breaker.HalfOpen {
		t.Fatalf("after cooldown: %v, state %s", err, h.State("hf"))
	}
	l.Report(nil)
	l.Release()
	if h.State("hf") != breaker.Closed {
		t.Errorf("state %s after a good probe, want closed", h.State("hf"))
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"hf CLOSED->OPEN trips=1", "hf OPEN->HALF_OPEN trips=1", "hf HALF_OPEN->CLOSED trips=1"}
	if fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Errorf("changes %v, want %v", changes, want)
	}
}
