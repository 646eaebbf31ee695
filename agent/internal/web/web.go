// Package web serves a browser UI at /: the agent's own dashboard, embedded in the binary, or
// the static build of another UI from a folder (server.ui_dir), with the single-page-app
// fallback to index.html. It never answers a path the API owns.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed ui
var embedded embed.FS

// reserved are the path prefixes the UI never serves, whether or not a route matches.
var reserved = []string{"/api", "/ws", "/socket.io", "/comfy"}

// Options configures a Handler.
type Options struct {
	// Dir is a UI build folder; empty serves the embedded dashboard.
	Dir string
	// IsRoute reports whether the API has a route for the request; such requests always go to
	// the API, so a UI never shadows a route added later.
	IsRoute func(r *http.Request) bool
}

// Handler serves the UI in front of the API handler.
type Handler struct {
	files    fs.FS
	embedded bool // the agent's own dashboard, not server.ui_dir
	isRoute  func(r *http.Request) bool

	etagMu sync.Mutex
	// Embedded only (the content never changes while the agent runs): content hashes and
	// gzipped copies, computed on first use.
	etags map[string]string
	gz    map[string][]byte
}

// New returns a Handler. A Dir that does not exist or holds no index.html is an error that
// says so.
func New(opts Options) (*Handler, error) {
	h := &Handler{isRoute: opts.IsRoute}
	if opts.Dir == "" {
		sub, err := fs.Sub(embedded, "ui")
		if err != nil {
			return nil, err
		}
		h.files, h.embedded = sub, true
		h.etags = map[string]string{}
		h.gz = map[string][]byte{}
	} else {
		// os.Root confines every open to the folder, symlinks included.
		root, err := os.OpenRoot(opts.Dir)
		if err != nil {
			return nil, fmt.Errorf("server.ui_dir %s: %w (point it at a folder holding the UI's index.html)", opts.Dir, err)
		}
		h.files = root.FS()
	}
	if st, err := fs.Stat(h.files, "index.html"); err != nil || st.IsDir() {
		return nil, fmt.Errorf("server.ui_dir %s has no index.html (point it at the UI's build output, e.g. web/dist)", opts.Dir)
	}
	if h.isRoute == nil {
		h.isRoute = func(*http.Request) bool { return false }
	}
	return h, nil
}

// Wrap returns a handler that serves GET and HEAD requests for UI paths and passes everything
// else (reserved prefixes, registered routes, other methods) to api.
func (h *Handler) Wrap(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method != http.MethodGet && r.Method != http.MethodHead) || isReserved(r.URL.Path) || h.isRoute(r) {
			api.ServeHTTP(w, r)
			return
		}
		h.serve(w, r)
	})
}

// isReserved reports whether p belongs to the API's prefixes.
func isReserved(p string) bool {
	for _, pre := range reserved {
		if p == pre || strings.HasPrefix(p, pre+"/") {
			return true
		}
	}
	return false
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	f, name, err := h.open(name)
	if err != nil {
		// Unknown paths belong to the single-page app's router.
		f, name, err = h.open("index.html")
	}
	if err != nil {
		http.Error(w, "the UI's index.html is unreadable", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		http.Error(w, "the UI file is not seekable", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Cache-Control", "no-cache") // revalidate: a new agent may ship a new UI
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	if h.embedded {
		// The dashboard loads nothing from elsewhere.
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; "+
			"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		hd.Add("Vary", "Accept-Encoding")
		tag, gz, err := h.encoded(name, rs)
		if err == nil && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") && r.Header.Get("Range") == "" {
			hd.Set("ETag", strings.TrimSuffix(tag, `"`)+`-gz"`)
			hd.Set("Content-Encoding", "gzip")
			rs = bytes.NewReader(gz)
		} else if err == nil {
			hd.Set("ETag", tag)
		}
	}
	var modTime time.Time // embedded files have none; their ETag stands in
	if st, err := f.Stat(); err == nil && !h.embedded {
		modTime = st.ModTime()
	}
	http.ServeContent(w, r, name, modTime, rs)
}

// open opens a regular file, or a folder's index.html.
func (h *Handler) open(name string) (fs.File, string, error) {
	if name == "" {
		name = "index.html"
	}
	f, err := h.files.Open(name)
	if err != nil {
		return nil, "", err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, "", err
	}
	if st.IsDir() {
		f.Close()
		return h.open(path.Join(name, "index.html"))
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, "", errors.New("not a regular file")
	}
	return f, name, nil
}

// encoded returns the content hash (as an ETag) and the gzipped bytes of an embedded file,
// computed once.
func (h *Handler) encoded(name string, rs io.ReadSeeker) (string, []byte, error) {
	h.etagMu.Lock()
	defer h.etagMu.Unlock()
	if tag, ok := h.etags[name]; ok {
		return tag, h.gz[name], nil
	}
	var raw bytes.Buffer
	if _, err := io.Copy(&raw, rs); err != nil {
		return "", nil, err
	}
	if _, err := rs.Seek(0, io.SeekStart); err != nil {
		return "", nil, err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(raw.Bytes())
	if err := zw.Close(); err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(raw.Bytes())
	tag := `"` + hex.EncodeToString(sum[:8]) + `"`
	h.etags[name], h.gz[name] = tag, gz.Bytes()
	return tag, gz.Bytes(), nil
}
