package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DefaultManagerBase is where ComfyUI-Manager publishes its data files.
const DefaultManagerBase = "https://raw.githubusercontent.com/Comfy-Org/ComfyUI-Manager/main/"

// ManagerOptions configures the Manager data cache.
type ManagerOptions struct {
	// URLs maps each file name (FileNodeMap, ...) to its download URL; missing entries default to
	// DefaultManagerBase + name.
	URLs map[string]string
	// CacheDir holds the cached files, normally <data_dir>/manager. Empty: memory only.
	CacheDir string
	// SeedDir, when set, fills cache entries that are absent (first run, tests, air-gapped nodes).
	SeedDir string
	// MaxAge after which cached data is reported stale (default 7 days).
	MaxAge time.Duration
	// Client downloads the files (default: a client with a 2 minute timeout).
	Client *http.Client
	// MaxFileBytes caps a downloaded file (default 64 MiB).
	MaxFileBytes int64
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// FileStatus describes one cached Manager file.
type FileStatus struct {
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	Present   bool      `json:"present"`
	FetchedAt time.Time `json:"fetched_at,omitzero"`
	Stale     bool      `json:"stale"`
	LastError string    `json:"last_error,omitempty"`
}

// ManagerData owns the cached Manager files and the index built from them. It is safe for
// concurrent use; analysis reads the current index while a refresh replaces it.
type ManagerData struct {
	opts ManagerOptions
	core map[string]bool

	mu      sync.RWMutex
	raw     map[string][]byte
	index   *ManagerIndex
	status  map[string]*FileStatus
	loadErr []string
}

// NewManagerData returns the cache; call Load to read it. Without Load the index knows only the
// embedded core node list.
func NewManagerData(opts ManagerOptions) *ManagerData {
	if opts.MaxAge <= 0 {
		opts.MaxAge = 7 * 24 * time.Hour
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 2 * time.Minute}
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = 64 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	urls := map[string]string{}
	for _, f := range ManagerFiles {
		urls[f] = DefaultManagerBase + f
		if u := opts.URLs[f]; u != "" {
			urls[f] = u
		}
	}
	opts.URLs = urls
	core := loadBuiltinTables().core
	ix, _ := BuildIndex(nil, core)
	st := map[string]*FileStatus{}
	for _, f := range ManagerFiles {
		st[f] = &FileStatus{Name: f, URL: urls[f]}
	}
	return &ManagerData{opts: opts, core: core, index: ix, status: st, raw: map[string][]byte{}}
}

// Index returns the current index (never nil).
func (m *ManagerData) Index() *ManagerIndex {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.index
}

// Load seeds absent cache files from SeedDir and builds the index from the cache. Missing or
// unreadable files are not an error: the agent works with what it has and says so in Warnings.
func (m *ManagerData) Load(ctx context.Context) error {
	if m.opts.CacheDir != "" {
		if err := os.MkdirAll(m.opts.CacheDir, 0o755); err != nil {
			return fmt.Errorf("create manager cache dir: %w", err)
		}
	}
	files := map[string][]byte{}
	times := map[string]time.Time{}
	for _, f := range ManagerFiles {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, t, err := m.readCached(f)
		if errors.Is(err, fs.ErrNotExist) && m.opts.SeedDir != "" {
			if b, err = os.ReadFile(filepath.Join(m.opts.SeedDir, f)); err == nil {
				t = m.seedTime(f)
				if m.opts.CacheDir != "" {
					_ = writeAtomic(filepath.Join(m.opts.CacheDir, f), b)
				}
			}
		}
		if err == nil {
			files[f], times[f] = b, t
		}
	}
	m.rebuild(files, times)
	return nil
}

func (m *ManagerData) seedTime(f string) time.Time {
	if fi, err := os.Stat(filepath.Join(m.opts.SeedDir, f)); err == nil {
		return fi.ModTime()
	}
	return time.Time{}
}

func (m *ManagerData) readCached(f string) ([]byte, time.Time, error) {
	if m.opts.CacheDir == "" {
		return nil, time.Time{}, fs.ErrNotExist
	}
	p := filepath.Join(m.opts.CacheDir, f)
	fi, err := os.Stat(p)
	if err != nil {
		return nil, time.Time{}, err
	}
	b, err := os.ReadFile(p)
	return b, fi.ModTime(), err
}

// rebuild merges the given files over the ones already held and rebuilds the index.
func (m *ManagerData) rebuild(files map[string][]byte, times map[string]time.Time) {
	m.mu.RLock()
	all := make(map[string][]byte, len(ManagerFiles))
	for k, v := range m.raw {
		all[k] = v
	}
	m.mu.RUnlock()
	for k, v := range files {
		all[k] = v
	}
	ix, warns := BuildIndex(all, m.core)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.raw = all
	m.index, m.loadErr = ix, warns
	for _, f := range ManagerFiles {
		s := m.status[f]
		s.Present = ix.Present[f]
		if t, ok := times[f]; ok {
			s.FetchedAt = t
		}
	}
}

// Refresh downloads every file, replacing the cache entry of each one that succeeds, then
// rebuilds the index. Failed files keep their cached copy; the joined error names them.
func (m *ManagerData) Refresh(ctx context.Context) error {
	files := map[string][]byte{}
	times := map[string]time.Time{}
	var errs []error
	for _, f := range ManagerFiles {
		b, err := m.fetch(ctx, m.opts.URLs[f])
		m.mu.Lock()
		if err != nil {
			m.status[f].LastError = err.Error()
		} else {
			m.status[f].LastError = ""
		}
		m.mu.Unlock()
		if err != nil {
			// The previous copy (cache or memory) stays in use.
			errs = append(errs, fmt.Errorf("fetch %s: %w", f, err))
			continue
		}
		if m.opts.CacheDir != "" {
			if err := writeAtomic(filepath.Join(m.opts.CacheDir, f), b); err != nil {
				errs = append(errs, fmt.Errorf("cache %s: %w", f, err))
			}
		}
		files[f], times[f] = b, m.opts.Now()
	}
	if len(files) > 0 {
		m.rebuild(files, times)
	}
	return errors.Join(errs...)
}

func (m *ManagerData) fetch(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.opts.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, m.opts.MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	if int64(len(b)) > m.opts.MaxFileBytes {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, m.opts.MaxFileBytes)
	}
	if len(b) == 0 || (b[0] != '{' && b[0] != '[') {
		return nil, fmt.Errorf("GET %s: not a JSON document", url)
	}
	return b, nil
}

// Status reports every file.
func (m *ManagerData) Status() []FileStatus {
	m.mu.RLock()
	defer m.mu.RUnlock()
	now := m.opts.Now()
	out := make([]FileStatus, 0, len(ManagerFiles))
	for _, f := range ManagerFiles {
		s := *m.status[f]
		s.Stale = !s.Present || (!s.FetchedAt.IsZero() && now.Sub(s.FetchedAt) > m.opts.MaxAge)
		out = append(out, s)
	}
	return out
}

// Warnings says what analysis results lack because Manager data is absent or stale.
func (m *ManagerData) Warnings() []string {
	var out []string
	m.mu.RLock()
	out = append(out, m.loadErr...)
	m.mu.RUnlock()
	for _, s := range m.Status() {
		switch {
		case !s.Present && (s.Name == FileNodeMap):
			out = append(out, fmt.Sprintf("ComfyUI-Manager %s is not cached: custom node types cannot be mapped to packs (only core nodes are recognised); refresh the Manager data while online", s.Name))
		case !s.Present && s.Name == FileModelList:
			out = append(out, fmt.Sprintf("ComfyUI-Manager %s is not cached: model sizes and URLs from it are unavailable", s.Name))
		case !s.Present:
			out = append(out, fmt.Sprintf("ComfyUI-Manager %s is not cached", s.Name))
		case s.Stale:
			out = append(out, fmt.Sprintf("ComfyUI-Manager %s is stale (fetched %s); results may miss newer node packs", s.Name, s.FetchedAt.UTC().Format(time.RFC3339)))
		}
	}
	return out
}

// writeAtomic writes through a temporary file so a crash never leaves a torn cache file.
func writeAtomic(p string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// NeedsRefresh reports whether any file is absent or older than MaxAge, so the caller can start
// a background Refresh at boot.
func (m *ManagerData) NeedsRefresh() bool {
	for _, s := range m.Status() {
		if s.Stale {
			return true
		}
	}
	return false
}
