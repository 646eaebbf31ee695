// Package faultserver is an in-process loopback HTTP server that injects faults on demand
// (stalls, connection resets, truncated bodies, error statuses with Retry-After, corrupted
// bytes, slow streams) and a size-capped writer that fails with ENOSPC. The recovery self-tests
// and benchmarks run real operations against them, so their results are measured, not canned.
// FileServer (file.go) serves one large generated file with Range, If-Range and ETags for the
// model downloader's tests and benchmarks, with the faults of real model hosts.
package faultserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kind is a fault.
type Kind string

// Faults.
const (
	// OK serves the body (after Delay, the host's latency, when set).
	OK Kind = "ok"
	// Stall holds the response until the client gives up (or Stall elapses).
	Stall Kind = "stall"
	// Reset closes the connection with RST before any response.
	Reset Kind = "reset"
	// Status answers with Status (and Retry-After when set).
	Status Kind = "status"
	// Truncate promises the full Content-Length, sends half and closes.
	Truncate Kind = "truncate"
	// Corrupt sends the body with one byte flipped.
	Corrupt Kind = "corrupt"
	// Slow streams the body in small chunks with a pause between them.
	Slow Kind = "slow"
)

// Fault is one planned response.
type Fault struct {
	Kind       Kind
	Status     int
	RetryAfter string
	// Stall bounds a Stall; Slow's pause between chunks.
	Delay time.Duration
}

type route struct {
	body    []byte
	plan    []Fault
	repeat  *Fault // served after the plan runs out; nil means OK
	every   int    // with everyF: every n-th request after the plan gets everyF
	everyF  Fault
	hits    int
	aborted int
	times   []time.Time
}

// Server is a running fault-injection server on 127.0.0.1.
type Server struct {
	srv *http.Server
	ln  net.Listener
	mu  sync.Mutex
	rt  map[string]*route
	seq int
}

// Start listens on an ephemeral loopback port.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fault server listen: %w", err)
	}
	s := &Server{ln: ln, rt: map[string]*route{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server and drops open connections.
func (s *Server) Close() error { return s.srv.Close() }

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Route registers a path that serves body after the planned faults, in order, one per
// request. It returns the route's URL.
func (s *Server) Route(body []byte, plan ...Fault) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	key := "r" + strconv.Itoa(s.seq)
	s.rt[key] = &route{body: body, plan: plan}
	return s.URL() + "/" + key
}

// Repeat makes a route serve f for every request once its plan is used up (nil: serve OK).
func (s *Server) Repeat(url string, f *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rt[keyOf(url)]; r != nil {
		r.repeat = f
	}
}

// Every makes every n-th request of a route (after its plan) get f: background noise for
// load tests.
func (s *Server) Every(url string, n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rt[keyOf(url)]; r != nil {
		r.every, r.everyF = n, f
	}
}

// Hits returns how many requests reached the route.
func (s *Server) Hits(url string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rt[keyOf(url)]; r != nil {
		return r.hits
	}
	return 0
}

// Aborted returns how many responses on the route ended because the client went away.
func (s *Server) Aborted(url string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rt[keyOf(url)]; r != nil {
		return r.aborted
	}
	return 0
}

// Times returns when each request arrived.
func (s *Server) Times(url string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rt[keyOf(url)]; r != nil {
		return append([]time.Time(nil), r.times...)
	}
	return nil
}

func keyOf(url string) string { return url[strings.LastIndex(url, "/")+1:] }

func (s *Server) serve(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	r := s.rt[strings.TrimPrefix(req.URL.Path, "/")]
	if r == nil {
		s.mu.Unlock()
		http.NotFound(w, req)
		return
	}
	r.hits++
	r.times = append(r.times, time.Now())
	f := Fault{Kind: OK}
	if len(r.plan) > 0 {
		f = r.plan[0]
		r.plan = r.plan[1:]
	} else if r.every > 0 && r.hits%r.every == 0 {
		f = r.everyF
	} else if r.repeat != nil {
		f = *r.repeat
	}
	body := r.body
	s.mu.Unlock()

	switch f.Kind {
	case Stall:
		d := f.Delay
		if d <= 0 {
			d = 30 * time.Second
		}
		select {
		case <-req.Context().Done():
			s.abort(req)
		case <-time.After(d):
			w.WriteHeader(http.StatusGatewayTimeout)
		}
	case Reset:
		hijackClose(w, true)
	case Status:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		http.Error(w, http.StatusText(f.Status), f.Status)
	case Truncate:
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body[:len(body)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		hijackClose(w, false)
	case Corrupt:
		b := append([]byte(nil), body...)
		if len(b) > 0 {
			b[len(b)/2] ^= 0xff
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	case Slow:
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		fl, _ := w.(http.Flusher)
		for off := 0; off < len(body); off += 64 {
			end := min(off+64, len(body))
			if _, err := w.Write(body[off:end]); err != nil {
				s.abort(req)
				return
			}
			if fl != nil {
				fl.Flush()
			}
			select {
			case <-req.Context().Done():
				s.abort(req)
				return
			case <-time.After(f.Delay):
			}
		}
	default:
		if f.Delay > 0 { // a remote host's latency
			select {
			case <-req.Context().Done():
				s.abort(req)
				return
			case <-time.After(f.Delay):
			}
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}
}

func (s *Server) abort(req *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rt[strings.TrimPrefix(req.URL.Path, "/")]; r != nil {
		r.aborted++
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

// SHA256 returns the hex digest of b.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Fetch GETs url and copies the body to dst, returning failures the way real downloads see
// them (net errors, *url.Error timeouts, unexpected EOF, the writer's ENOSPC). A status >= 300
// is returned with its header and a nil error, for the caller to classify.
func Fetch(ctx context.Context, client *http.Client, url string, dst interface{ Write([]byte) (int, error) }) (int, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return resp.StatusCode, resp.Header, nil
	}
	var buf [4096]byte
	for {
		n, rerr := resp.Body.Read(buf[:])
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return resp.StatusCode, resp.Header, werr
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				return resp.StatusCode, resp.Header, nil
			}
			return resp.StatusCode, resp.Header, rerr
		}
	}
}

// CappedWriter collects bytes like a file on a nearly full disk: writes beyond Limit fail with
// a *fs.PathError wrapping ENOSPC, exactly what os.File returns.
type CappedWriter struct {
	mu    sync.Mutex
	name  string
	limit int64
	buf   bytes.Buffer
}

// NewCappedWriter returns a writer that holds at most limit bytes.
func NewCappedWriter(name string, limit int64) *CappedWriter {
	return &CappedWriter{name: name, limit: limit}
}

// Write appends p, or as much as fits before failing with ENOSPC.
func (c *CappedWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.limit - int64(c.buf.Len())
	if int64(len(p)) <= room {
		return c.buf.Write(p)
	}
	if room < 0 {
		room = 0
	}
	n, _ := c.buf.Write(p[:room])
	return n, &fs.PathError{Op: "write", Path: c.name, Err: syscall.ENOSPC}
}

// SetLimit changes the capacity ("frees disk space").
func (c *CappedWriter) SetLimit(n int64) {
	c.mu.Lock()
	c.limit = n
	c.mu.Unlock()
}

// Reset discards the content (a download restarting from zero).
func (c *CappedWriter) Reset() {
	c.mu.Lock()
	c.buf.Reset()
	c.mu.Unlock()
}

// Bytes returns a copy of the content.
func (c *CappedWriter) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf.Bytes()...)
}
