// Package download fetches one file over HTTP into the model store, following the rules of
// research/reliability.md §1.2: bytes go to a .part file that ComfyUI never sees; the URL,
// validator and size are persisted before the first body byte; a resume sends Range + If-Range
// + identity encoding and acts on the actual status (206 start checked, 200 restarts, 416 means
// complete only when the sizes agree); the validator and total size are compared on every
// response, and a change restarts from zero; length and sha256 are verified before an atomic
// publish (fsync, rename, directory fsync); disk space is checked and reserved before writing;
// non-2xx and HTML bodies are never written. The sha256 follows the file's contiguous prefix
// while bytes arrive (hasher.go), so publishing needs no second read. Every request is a
// bounded range; large files from servers that honour ranges are fetched over a number of
// connections that adapts to the throughput (segments.go), each segment resumable on its own.
//
// Fetch is one attempt; it returns classified errors (*Error) and leaves the partial and its
// state so the next attempt (Download's loop, or the recovery runner) resumes.
package download

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

// File is the part of *os.File the downloader writes through; tests wrap it to inject ENOSPC.
type File interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
	Fd() uintptr
}

// Credential is an auth header sent to one host only.
type Credential struct {
	Header string // e.g. "Authorization"
	Value  string // e.g. "Bearer hf_..."; never logged
}

// Options configure a Downloader. Zero values get the defaults noted.
type Options struct {
	Client *http.Client
	Hosts  *Hosts
	// Credentials returns the auth header for a host; it is dropped on cross-host redirects.
	Credentials func(host string) (Credential, bool)
	// MaxConnections per large file (1 disables parallel segments). Default 8. A download
	// starts with InitialConnections (default 1) and multiplies them while throughput grows.
	MaxConnections     int
	InitialConnections int
	// AdaptInterval is how often throughput is sampled to adapt the connections. Default 250ms.
	AdaptInterval time.Duration
	// FastConnection is a per-connection throughput (bytes/s) at which no more connections
	// are tried: such a host is not throttling each connection, and a trial of more would
	// cost more (read-back of out-of-order bytes for the hash, disk contention) than it could
	// gain. Default 256 MiB/s (about 2 Gbit/s); negative: always try.
	FastConnection float64
	// MinSegment is the size of the first request and the smallest range a connection is
	// given. Default 4 MiB.
	MinSegment int64
	// ParallelMinSize is the smallest file fetched over several connections. Default 64 MiB.
	ParallelMinSize int64
	// CheckpointInterval and CheckpointBytes bound what a kill -9 re-downloads. Defaults 5s, 256 MiB.
	CheckpointInterval time.Duration
	CheckpointBytes    int64
	// StallTimeout aborts an attempt that receives nothing for this long. Default 60s.
	StallTimeout time.Duration
	// MaxRestarts caps full restarts from 0 (Range ignored, file changed). Default 3.
	MaxRestarts int
	// Disk margin kept free: max(DiskMarginBytes, DiskMarginPercent of the filesystem).
	DiskMarginBytes   int64
	DiskMarginPercent float64
	// FreeSpace reports free and total bytes of the filesystem holding dir (statfs by default).
	FreeSpace func(dir string) (free, total uint64, err error)
	// NoReserve disables fallocate of the remaining bytes.
	NoReserve bool
	// KeepCached leaves the written bytes in the page cache (see evictWritten).
	KeepCached bool
	// OpenFile opens the .part file (os.OpenFile by default).
	OpenFile func(name string) (File, error)
	Now      func() time.Time
	// UserAgent sent with every request.
	UserAgent string
	// ProgressInterval throttles progress callbacks. Default 250ms.
	ProgressInterval time.Duration
}

// Request is one file to download.
type Request struct {
	URL    string
	Dest   string // final path in the store
	Part   string // the .part path (under models_dir/.partial)
	SHA256 string // expected lower-case hex, optional
	Header http.Header
}

// Result describes a published file.
type Result struct {
	Size         int64  `json:"size"`
	SHA256       string `json:"sha256"`
	Validator    string `json:"validator,omitempty"`
	LinkedETag   string `json:"linked_etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	FinalURL     string `json:"final_url,omitempty"`
	Restarts     int    `json:"restarts,omitempty"`
	// Connections is the most connections the last attempt had open at once.
	Connections int `json:"connections,omitempty"`
}

// Progress is a throttled progress report.
type Progress struct {
	Bytes    int64
	Total    int64 // -1 when unknown
	SpeedBps float64
}

// Downloader runs downloads. It is safe for concurrent use; one download per destination runs
// at a time (an in-process lock, never flock: it lies on network filesystems).
type Downloader struct {
	opt    Options
	client *http.Client

	mu    sync.Mutex
	dests map[string]*sync.Mutex
	// spaceMu makes "check free space, then fallocate" atomic across downloads.
	spaceMu sync.Mutex
}

// New returns a Downloader with opt's defaults filled in.
func New(opt Options) *Downloader {
	if opt.MaxConnections <= 0 {
		opt.MaxConnections = 8
	}
	if opt.InitialConnections <= 0 {
		opt.InitialConnections = 1
	}
	if opt.AdaptInterval <= 0 {
		opt.AdaptInterval = 250 * time.Millisecond
	}
	if opt.FastConnection == 0 {
		opt.FastConnection = 256 << 20
	}
	if opt.MinSegment <= 0 {
		opt.MinSegment = 4 << 20
	}
	if opt.ParallelMinSize <= 0 {
		opt.ParallelMinSize = 64 << 20
	}
	if opt.CheckpointInterval <= 0 {
		opt.CheckpointInterval = 5 * time.Second
	}
	if opt.CheckpointBytes <= 0 {
		opt.CheckpointBytes = 256 << 20
	}
	if opt.StallTimeout <= 0 {
		opt.StallTimeout = 60 * time.Second
	}
	if opt.MaxRestarts <= 0 {
		opt.MaxRestarts = 3
	}
	if opt.FreeSpace == nil {
		opt.FreeSpace = FreeSpace
	}
	if opt.OpenFile == nil {
		opt.OpenFile = func(name string) (File, error) { return os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644) }
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Hosts == nil {
		opt.Hosts = NewHosts(8, 5, 30*time.Second, nil)
	}
	if opt.ProgressInterval <= 0 {
		opt.ProgressInterval = 250 * time.Millisecond
	}
	base := opt.Client
	if base == nil {
		base = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 16, ResponseHeaderTimeout: 60 * time.Second}}
	}
	c := *base
	d := &Downloader{opt: opt, client: &c, dests: map[string]*sync.Mutex{}}
	c.CheckRedirect = d.checkRedirect
	return d
}

// Options returns the effective options.
func (d *Downloader) Options() Options { return d.opt }

func (d *Downloader) lockDest(dest string) func() {
	d.mu.Lock()
	m := d.dests[dest]
	if m == nil {
		m = &sync.Mutex{}
		d.dests[dest] = m
	}
	d.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// Fetch runs one attempt of req, resuming from cp's state. On success the file is at req.Dest
// and cp's state is obsolete (callers delete it). On failure the partial and the state stay for
// the next attempt unless the error says they were discarded.
func (d *Downloader) Fetch(ctx context.Context, req Request, cp Checkpointer, progress func(Progress)) (Result, error) {
	unlock := d.lockDest(req.Dest)
	defer unlock()

	st := State{Size: -1}
	if ok, err := cp.Load(&st); err != nil {
		return Result{}, classify(recovery.ClassUnknown, false, err)
	} else if !ok || st.URL != req.URL || st.SHA256 != req.SHA256 {
		// A different URL or hash is a different file: the partial is not ours to resume.
		st = State{URL: req.URL, SHA256: req.SHA256, Size: -1}
	} else if st.Validator == "" {
		// Bytes without a validator are never trusted (the counters stay).
		st.reset()
	} else if len(st.Segments) == 0 && st.Offset > 0 {
		// A single-stream checkpoint of an earlier agent: one segment, hashed to Offset.
		st.Segments = []Segment{{Start: 0, End: st.Size, Done: st.Offset}}
	}
	f, err := d.opt.OpenFile(req.Part)
	if err != nil {
		return Result{}, classify(ClassOf(err), IsPermanent(err), fmt.Errorf("open partial: %w", err))
	}
	defer f.Close()

	a := &attempt{d: d, req: req, cp: cp, f: f, st: &st, progress: progress}
	return a.run(ctx)
}

// Download retries Fetch until it succeeds, fails permanently, or maxAttempts attempts were made,
// waiting with full-jitter backoff (or the server's Retry-After). The recovery runner replaces
// this loop when downloads run as operations.
func (d *Downloader) Download(ctx context.Context, req Request, cp Checkpointer, progress func(Progress), maxAttempts int, sleep func(context.Context, time.Duration) error) (Result, error) {
	if sleep == nil {
		sleep = sleepCtx
	}
	var last error
	for i := 1; i <= maxAttempts; i++ {
		res, err := d.Fetch(ctx, req, cp, progress)
		if err == nil {
			return res, nil
		}
		last = err
		if IsPermanent(err) || ctx.Err() != nil || i == maxAttempts {
			break
		}
		wait := RetryAfterOf(err)
		if wait == 0 {
			wait = Backoff(i, 500*time.Millisecond, 30*time.Second)
		}
		if err := sleep(ctx, wait); err != nil {
			return Result{}, classify(recovery.ClassCancelled, true, err)
		}
	}
	return Result{}, last
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// newHash returns a sha256 hasher positioned at state (empty state: a fresh hasher).
func newHash(state []byte) (hashState, error) {
	h := sha256.New().(hashState)
	if len(state) > 0 {
		if err := h.UnmarshalBinary(state); err != nil {
			return nil, err
		}
	}
	return h, nil
}

type hashState interface {
	io.Writer
	Sum([]byte) []byte
	Reset()
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// isHTML sniffs an error or login page served with a 2xx status: the body starts like HTML,
// or it is labelled text/html and is text (model formats all have NUL bytes in their first
// 512: safetensors' header length, zip/pickle headers, GGUF's version).
func isHTML(contentType string, head []byte) bool {
	if looksLikeHTML(head) {
		return true
	}
	return strings.HasPrefix(strings.ToLower(contentType), "text/html") && bytes.IndexByte(head, 0) < 0
}

func looksLikeHTML(b []byte) bool {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	b = b[i:]
	for _, p := range []string{"<!doctype html", "<html", "<head", "<!--"} {
		if len(b) >= len(p) && equalFold(b[:len(p)], p) {
			return true
		}
	}
	return false
}

func equalFold(b []byte, s string) bool {
	for i := range len(s) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
