package faultserver

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FileFault is applied to one request; faults are consumed in order, one per request.
type FileFault struct {
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

// FileServer is the downloader's fault-injection server: one file of any size, generated
// deterministically so it is never held in memory, served at any path with a strong ETag,
// Range and If-Range like a CDN. It counts the bytes it sends, can throttle each request, and
// injects the faults real model hosts produce (FileFault) one request at a time.
type FileServer struct {
	*httptest.Server

	mu      sync.Mutex
	size    int64
	seed    uint64
	block   []byte
	etag    string
	faults  []FileFault
	ranges  []int64
	headers map[string]string

	// BytesPerSecond throttles bodies when > 0.
	BytesPerSecond atomic.Int64
	served         atomic.Int64
	requests       atomic.Int64
}

// NewFile starts a server for a file of size bytes generated from seed.
func NewFile(size int64, seed uint64) *FileServer {
	s := &FileServer{headers: map[string]string{}}
	s.setContent(size, seed)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// blockLen is prime so the pattern never aligns with read buffers or segment boundaries.
const blockLen = 1<<20 - 3

func (s *FileServer) setContent(size int64, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, blockLen)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	s.size, s.seed, s.block = size, seed, b
	s.etag = fmt.Sprintf("\"v%d-%d\"", seed, size)
}

// URL returns the file's URL.
func (s *FileServer) URL() string { return s.Server.URL + "/file.safetensors" }

// Size returns the current content length.
func (s *FileServer) Size() int64 { s.mu.Lock(); defer s.mu.Unlock(); return s.size }

// ETag returns the current validator.
func (s *FileServer) ETag() string { s.mu.Lock(); defer s.mu.Unlock(); return s.etag }

// SetHeader adds a response header to every file response (e.g. X-Linked-Etag).
func (s *FileServer) SetHeader(k, v string) { s.mu.Lock(); s.headers[k] = v; s.mu.Unlock() }

// Inject queues faults for the next requests.
func (s *FileServer) Inject(f ...FileFault) {
	s.mu.Lock()
	s.faults = append(s.faults, f...)
	s.mu.Unlock()
}

// Served is the number of body bytes written to clients.
func (s *FileServer) Served() int64 { return s.served.Load() }

// Requests is the number of requests received.
func (s *FileServer) Requests() int64 { return s.requests.Load() }

// RangeStarts lists the start offset each request asked for (-1: no Range).
func (s *FileServer) RangeStarts() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.ranges...)
}

// SHA256 returns the hex sha256 of the current content.
func (s *FileServer) SHA256() string {
	h := sha256.New()
	io.Copy(h, s.Reader())
	return hex.EncodeToString(h.Sum(nil))
}

// Reader returns the current content.
func (s *FileServer) Reader() io.Reader {
	s.mu.Lock()
	defer s.mu.Unlock()
	return io.NewSectionReader(content{s.block}, 0, s.size)
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

func (s *FileServer) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	var f FileFault
	if len(s.faults) > 0 {
		f, s.faults = s.faults[0], s.faults[1:]
	}
	if f.NewVersion {
		s.setContent(s.size, s.seed+1)
	}
	size, etag, src := s.size, s.etag, content{s.block}
	for k, v := range s.headers {
		w.Header().Set(k, v)
	}
	start, end, ranged := parseRange(r.Header.Get("Range"), size)
	if r.Header.Get("Range") == "" {
		s.ranges = append(s.ranges, -1)
	} else {
		s.ranges = append(s.ranges, start)
	}
	s.mu.Unlock()

	switch {
	case f.Status != 0:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.Status)
		io.WriteString(w, f.Body)
		return
	case f.HTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!DOCTYPE html><html><body>Please log in to download this model</body></html>")
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Content-Type", "application/octet-stream")
	if ir := r.Header.Get("If-Range"); ir != "" && ir != etag && !f.IgnoreIfRange {
		ranged = false
	}
	if f.IgnoreRange {
		ranged = false
	}
	if ranged && start >= size {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	status := http.StatusOK
	if ranged {
		start += f.WrongStart
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
	if f.ContentEncoding != "" {
		w.Header().Set("Content-Encoding", f.ContentEncoding)
	}
	w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	s.copy(w, r, src, start, length, f)
}

func (s *FileServer) copy(w http.ResponseWriter, r *http.Request, src content, start, length int64, f FileFault) {
	buf := make([]byte, 64<<10)
	var sent int64
	limit := length
	for _, l := range []int64{f.ResetAfter, f.StallAfter, f.TruncateAfter} {
		if l > 0 {
			limit = min(limit, l)
		}
	}
	begin := time.Now()
	for sent < limit {
		n := min(int64(len(buf)), limit-sent)
		src.ReadAt(buf[:n], start+sent)
		if f.Corrupt > 0 && f.Corrupt >= start+sent && f.Corrupt < start+sent+n {
			buf[f.Corrupt-start-sent] ^= 0xff
		}
		m, err := w.Write(buf[:n])
		sent += int64(m)
		s.served.Add(int64(m))
		if err != nil {
			return
		}
		if bps := s.BytesPerSecond.Load(); bps > 0 {
			if w, ok := w.(http.Flusher); ok {
				w.Flush()
			}
			due := begin.Add(time.Duration(float64(sent) / float64(bps) * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-r.Context().Done():
					return
				}
			}
		}
	}
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	switch {
	case f.ResetAfter > 0 && sent < length:
		hijackClose(w, true)
	case f.TruncateAfter > 0 && sent < length:
		hijackClose(w, false)
	case f.StallAfter > 0 && sent < length:
		<-r.Context().Done()
	}
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
