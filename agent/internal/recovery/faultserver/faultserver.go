// Package faultserver is the loopback model host the downloader's tests and benchmarks and the
// recovery self-tests download from: one server type (FileServer) serving generated files with
// a strong ETag, Range and If-Range like a CDN, and one fault model (FileFault) with the faults
// real model hosts produce (error statuses with Retry-After, HTML login pages, resets, stalls,
// truncated and corrupted bodies, ignored or shifted ranges, a file changing mid-download,
// latency). Faults are queued per file and consumed one per request, so a measurement's
// results are what really happened on the wire, not canned.
package faultserver

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FileFault is applied to one request; the zero FileFault serves the file.
type FileFault struct {
	// Delay holds the response this long before answering (a remote host's latency); a
	// client that gives up first counts as aborted.
	Delay time.Duration
	// Status answers with this status (and Body, RetryAfter) instead of the file.
	Status     int
	RetryAfter string
	Body       string
	// HTML answers 200 text/html with an error page.
	HTML bool
	// ResetAfter closes the connection with a TCP RST after this many body bytes (>0).
	ResetAfter int64
	// StallAfter stops sending after this many body bytes until the client gives up.
	StallAfter int64
	// TruncateAfter sends a correct Content-Length but closes cleanly after this many bytes.
	TruncateAfter int64
	// IgnoreRange answers 200 with the whole file.
	IgnoreRange bool
	// WrongStart shifts the Content-Range start (and the bytes) by this many bytes.
	WrongStart int64
	// NewVersion replaces the content (new seed, new ETag) before answering.
	NewVersion bool
	// IgnoreIfRange answers a Range request with 206 even when If-Range names another
	// version (a broken cache or proxy): with NewVersion, a slice of the new file under its
	// new ETag.
	IgnoreIfRange bool
	// Corrupt flips one byte of the body at this offset (>0).
	Corrupt int64
	// ContentEncoding labels the body with this encoding (a CDN that compresses anyway).
	ContentEncoding string
}

// FileServer is a running loopback model host. It serves its first file (the methods of the
// embedded *File) at /file.safetensors and at any path not given to another file, and any
// number of further files, each with its own content and fault queue (Add). It is an
// http.Handler too, for tests that put it behind a redirecting or inspecting front.
type FileServer struct {
	*File

	ln   net.Listener
	hs   *http.Server
	base string

	mu     sync.Mutex
	files  map[string]*File
	blocks map[uint64][]byte // generated content by seed, shared by files of one seed
}

// NewFile starts a server on an ephemeral loopback port for a file of size bytes generated
// from seed. It panics when no loopback port can be had, as httptest.NewServer does.
func NewFile(size int64, seed uint64) *FileServer {
	s, err := Start(size, seed)
	if err != nil {
		panic(err)
	}
	return s
}

// Start is NewFile returning the listen error (for callers that serve users, not tests).
func Start(size int64, seed uint64) (*FileServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fault server listen: %w", err)
	}
	s := &FileServer{ln: ln, base: "http://" + ln.Addr().String(), files: map[string]*File{}, blocks: map[uint64][]byte{}}
	s.File = s.add("/file.safetensors", size, seed)
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go s.hs.Serve(ln)
	return s, nil
}

// Close stops the server and drops open connections.
func (s *FileServer) Close() { _ = s.hs.Close() }

// BaseURL is the server's root URL.
func (s *FileServer) BaseURL() string { return s.base }

// Add serves another file of size bytes generated from seed at a path of its own, with its
// own faults (queued in order, one per request) and counters. Files of one seed and size share
// their content.
func (s *FileServer) Add(size int64, seed uint64, faults ...FileFault) *File {
	s.mu.Lock()
	path := fmt.Sprintf("/f%d/file.safetensors", len(s.files))
	s.mu.Unlock()
	f := s.add(path, size, seed)
	f.Inject(faults...)
	return f
}

func (s *FileServer) add(path string, size int64, seed uint64) *File {
	f := &File{srv: s, url: s.base + path, headers: map[string]string{}, abortedC: make(chan struct{})}
	f.mu.Lock()
	f.setContent(size, seed)
	f.mu.Unlock()
	s.mu.Lock()
	s.files[path] = f
	s.mu.Unlock()
	return f
}

// blockLen is prime so the pattern never aligns with read buffers or segment boundaries.
const blockLen = 1<<20 - 3

// block returns the content pattern of seed, generating it once: the first min(size,
// blockLen) bytes are all a file of that size reads.
func (s *FileServer) block(seed uint64, size int64) []byte {
	n := int(max(1, min(size, blockLen)))
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.blocks[seed]; len(b) >= n {
		return b
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	s.blocks[seed] = b
	return b
}

// File is one served file: its content, its fault plan and what its requests did.
type File struct {
	srv *FileServer
	url string

	mu       sync.Mutex
	size     int64
	seed     uint64
	block    []byte
	etag     string
	faults   []FileFault
	always   FileFault // once faults run out
	every    int       // with everyF: every n-th request after the queue gets everyF
	everyF   FileFault
	ranges   []int64
	times    []time.Time
	headers  map[string]string
	aborted  int
	abortedC chan struct{} // closed at the first abort

	// BytesPerSecond throttles bodies when > 0.
	BytesPerSecond atomic.Int64
	served         atomic.Int64
	requests       atomic.Int64
}

// setContent replaces the content; f.mu is held.
func (f *File) setContent(size int64, seed uint64) {
	f.size, f.seed, f.block = size, seed, f.srv.block(seed, size)
	f.etag = fmt.Sprintf("\"v%d-%d\"", seed, size)
}

// URL returns the file's URL.
func (f *File) URL() string { return f.url }

// Size returns the current content length.
func (f *File) Size() int64 { f.mu.Lock(); defer f.mu.Unlock(); return f.size }

// ETag returns the current validator.
func (f *File) ETag() string { f.mu.Lock(); defer f.mu.Unlock(); return f.etag }

// SetHeader adds a response header to every file response (e.g. X-Linked-Etag).
func (f *File) SetHeader(k, v string) { f.mu.Lock(); f.headers[k] = v; f.mu.Unlock() }

// Inject queues faults for the next requests.
func (f *File) Inject(faults ...FileFault) {
	f.mu.Lock()
	f.faults = append(f.faults, faults...)
	f.mu.Unlock()
}

// Always applies fault to every request once the queued faults are used up (the zero
// FileFault: serve the file).
func (f *File) Always(fault FileFault) { f.mu.Lock(); f.always = fault; f.mu.Unlock() }

// Every applies fault to every n-th request once the queue is used up: background noise for
// load measurements.
func (f *File) Every(n int, fault FileFault) {
	f.mu.Lock()
	f.every, f.everyF = n, fault
	f.mu.Unlock()
}

// Served is the number of body bytes written to clients.
func (f *File) Served() int64 { return f.served.Load() }

// Requests is the number of requests received.
func (f *File) Requests() int64 { return f.requests.Load() }

// RangeStarts lists the start offset each request asked for (-1: no Range).
func (f *File) RangeStarts() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.ranges...)
}

// Times lists when each request arrived.
func (f *File) Times() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.times...)
}

// Aborted is the number of responses cut short because the client went away.
func (f *File) Aborted() int { f.mu.Lock(); defer f.mu.Unlock(); return f.aborted }

// AbortedC is closed once a client has gone away mid-response.
func (f *File) AbortedC() <-chan struct{} { return f.abortedC }

func (f *File) abort() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.aborted++; f.aborted == 1 {
		close(f.abortedC)
	}
}

// SHA256 returns the hex sha256 of the current content.
func (f *File) SHA256() string {
	h := sha256.New()
	io.Copy(h, f.Reader())
	return hex.EncodeToString(h.Sum(nil))
}

// Reader returns the current content.
func (f *File) Reader() io.Reader {
	f.mu.Lock()
	defer f.mu.Unlock()
	return io.NewSectionReader(content{f.block}, 0, f.size)
}

// content is the infinite repetition of block.
type content struct{ block []byte }

func (c content) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		i := (off + int64(n)) % int64(len(c.block))
		n += copy(p[n:], c.block[i:])
	}
	return n, nil
}

// next takes the fault for one request and records the request.
func (f *File) next(rangeHeader string) FileFault {
	f.requests.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.times = append(f.times, time.Now())
	n := len(f.times)
	var fault FileFault
	switch {
	case len(f.faults) > 0:
		fault, f.faults = f.faults[0], f.faults[1:]
	case f.every > 0 && n%f.every == 0:
		fault = f.everyF
	default:
		fault = f.always
	}
	start, _, _ := parseRange(rangeHeader, f.size)
	if rangeHeader == "" {
		start = -1
	}
	f.ranges = append(f.ranges, start)
	if fault.NewVersion {
		f.setContent(f.size, f.seed+1)
	}
	return fault
}

// ServeHTTP answers r from the file at its path (the first file for any other path).
func (s *FileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	f := s.files[r.URL.Path]
	s.mu.Unlock()
	if f == nil {
		f = s.File
	}
	f.serve(w, r)
}

func (f *File) serve(w http.ResponseWriter, r *http.Request) {
	fault := f.next(r.Header.Get("Range"))
	if fault.Delay > 0 {
		select {
		case <-r.Context().Done():
			f.abort()
			return
		case <-time.After(fault.Delay):
		}
	}
	f.mu.Lock()
	size, etag, src := f.size, f.etag, content{f.block}
	for k, v := range f.headers {
		w.Header().Set(k, v)
	}
	f.mu.Unlock()
	start, end, ranged := parseRange(r.Header.Get("Range"), size)

	switch {
	case fault.Status != 0:
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(fault.Status)
		io.WriteString(w, fault.Body)
		return
	case fault.HTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!DOCTYPE html><html><body>Please log in to download this model</body></html>")
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Content-Type", "application/octet-stream")
	if ir := r.Header.Get("If-Range"); ir != "" && ir != etag && !fault.IgnoreIfRange {
		ranged = false
	}
	if fault.IgnoreRange {
		ranged = false
	}
	if ranged && start >= size {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	status := http.StatusOK
	if ranged {
		start += fault.WrongStart
		if start < 0 {
			start = 0
		}
		end = min(end, size-1)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, size))
		status = http.StatusPartialContent
	} else {
		start, end = 0, size-1
	}
	length := end - start + 1
	if fault.ContentEncoding != "" {
		w.Header().Set("Content-Encoding", fault.ContentEncoding)
	}
	w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	f.copy(w, r, src, start, length, fault)
}

func (f *File) copy(w http.ResponseWriter, r *http.Request, src content, start, length int64, fault FileFault) {
	buf := make([]byte, min(64<<10, max(length, 1)))
	var sent int64
	limit := length
	for _, l := range []int64{fault.ResetAfter, fault.StallAfter, fault.TruncateAfter} {
		if l > 0 {
			limit = min(limit, l)
		}
	}
	begin := time.Now()
	for sent < limit {
		n := min(int64(len(buf)), limit-sent)
		src.ReadAt(buf[:n], start+sent)
		if fault.Corrupt > 0 && fault.Corrupt >= start+sent && fault.Corrupt < start+sent+n {
			buf[fault.Corrupt-start-sent] ^= 0xff
		}
		m, err := w.Write(buf[:n])
		sent += int64(m)
		f.served.Add(int64(m))
		if err != nil {
			f.abort()
			return
		}
		if bps := f.BytesPerSecond.Load(); bps > 0 {
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
			due := begin.Add(time.Duration(float64(sent) / float64(bps) * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-r.Context().Done():
					f.abort()
					return
				}
			}
		}
	}
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	switch {
	case fault.ResetAfter > 0 && sent < length:
		hijackClose(w, true)
	case fault.TruncateAfter > 0 && sent < length:
		hijackClose(w, false)
	case fault.StallAfter > 0 && sent < length:
		<-r.Context().Done()
		f.abort()
	}
}

// hijackClose closes the client connection; with rst it sets SO_LINGER 0 so the client gets
// ECONNRESET rather than EOF.
func hijackClose(w http.ResponseWriter, rst bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	if buf != nil {
		buf.Flush()
	}
	if tc, ok := conn.(*net.TCPConn); ok && rst {
		tc.SetLinger(0)
	}
	conn.Close()
}

// parseRange understands one "bytes=a-" or "bytes=a-b" range; anything else is "not ranged".
func parseRange(v string, size int64) (start, end int64, ok bool) {
	spec, found := strings.CutPrefix(v, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(spec, "-")
	if !found || a == "" {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	end = size - 1
	if b != "" {
		if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
			return 0, 0, false
		}
	}
	return start, end, true
}
