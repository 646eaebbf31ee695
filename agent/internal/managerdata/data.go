// Package managerdata is the agent's one copy of ComfyUI-Manager's data files: the node map
// (which pack provides which node type), GitHub stars, the custom node list and the model list.
// Data downloads them from the [manager] URLs, caches them under <data_dir>/manager with the
// date each was obtained (meta.json), loads an operator's copy on offline nodes (Import), and
// keeps only their Index in memory. The workflow parser and the comfyui-manager model source
// both read the same Data.
package managerdata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/atomicfile"
)

// Manager data file names, as in the ComfyUI-Manager repository.
const (
	FileNodeMap    = "extension-node-map.json"
	FileStats      = "github-stats.json"
	FileModelList  = "model-list.json"
	FileCustomList = "custom-node-list.json"
)

// Files lists the Manager data files the agent uses.
var Files = []string{FileNodeMap, FileStats, FileModelList, FileCustomList}

// ConfigKeys names each file's URL key in launcher.toml, for messages that tell the operator
// what to change.
var ConfigKeys = map[string]string{
	FileNodeMap:    "manager.extension_node_map_url",
	FileStats:      "manager.github_stats_url",
	FileModelList:  "manager.model_list_url",
	FileCustomList: "manager.custom_node_list_url",
}

// DefaultBase is where ComfyUI-Manager publishes its data files.
const DefaultBase = "https://raw.githubusercontent.com/Comfy-Org/ComfyUI-Manager/main/"

// DefaultMaxAge is how old cached data may get before it is refetched and reported stale.
const DefaultMaxAge = 7 * 24 * time.Hour

// offlineFix is the advice for a node that cannot download the data.
const offlineFix = "on a node without internet load a copy with `launcher manager-data import DIR|URL` " +
	"(or POST /api/manager-data/import), or set manager.seed_dir"

// ErrBadSource marks an Import whose source is unusable (not found, not JSON, no Manager file):
// the caller's mistake, not the agent's.
var ErrBadSource = errors.New("unusable Manager data source")

// Options configures Data.
type Options struct {
	// URLs maps each file name (FileNodeMap, ...) to its download URL; missing entries default to
	// DefaultBase + name.
	URLs map[string]string
	// CacheDir holds the cached files and meta.json, normally <data_dir>/manager. Empty: memory
	// only (tests, one-shot tools).
	CacheDir string
	// SeedDir, when set, fills cache entries that are absent (first run on an air-gapped node).
	SeedDir string
	// MaxAge after which cached data is refetched and reported stale (default DefaultMaxAge).
	MaxAge time.Duration
	// Client downloads the files (default: a client with a 2 minute timeout).
	Client *http.Client
	// MaxFileBytes caps a downloaded file (default 64 MiB).
	MaxFileBytes int64
	// Now is the clock, used both to date what is fetched and to judge its age (default time.Now).
	Now func() time.Time
}

// FileStatus describes one Manager file.
type FileStatus struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// ConfigKey is the launcher.toml key of URL.
	ConfigKey string `json:"config_key"`
	Present   bool   `json:"present"`
	// FetchedAt is when this copy was obtained (download, import or seed date).
	FetchedAt time.Time `json:"fetched_at,omitzero"`
	// Source is the URL, "import:<dir or URL>" or "seed:<dir>" the copy came from.
	Source    string `json:"source,omitempty"`
	Stale     bool   `json:"stale"`
	LastError string `json:"last_error,omitempty"`
}

// Status is the state of the Manager data as a whole.
type Status struct {
	// State is loading (the cache is being read), missing (no file), partial (some files
	// missing), stale (all present, some older than max_age) or ok.
	State    string       `json:"state"`
	CacheDir string       `json:"cache_dir,omitempty"`
	MaxAge   string       `json:"max_age"`
	Version  uint64       `json:"version"`
	Files    []FileStatus `json:"files"`
	Warnings []string     `json:"warnings"`
}

// Data owns the cached Manager files and the Index built from them. It is safe for concurrent
// use: lookups read the current Index while a refresh or an import builds the next one.
type Data struct {
	opts Options

	// op serialises Load, Refresh and Import: each reads and writes the cache.
	op sync.Mutex

	mu      sync.RWMutex
	parts   parts
	index   *Index
	version uint64
	files   map[string]*FileStatus
	warns   map[string]string // file -> why its cached copy is unusable

	loadedOnce sync.Once
	loaded     chan struct{}
}

// New returns the data component; call Load (or Wait for a Load started elsewhere) to read the
// cache. Until then the Index is empty.
func New(opts Options) *Data {
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
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
	st := map[string]*FileStatus{}
	for _, f := range Files {
		urls[f] = DefaultBase + f
		if u := opts.URLs[f]; u != "" {
			urls[f] = u
		}
		st[f] = &FileStatus{Name: f, URL: urls[f], ConfigKey: ConfigKeys[f]}
	}
	opts.URLs = urls
	return &Data{opts: opts, index: parts{}.build(0), files: st, warns: map[string]string{}, loaded: make(chan struct{})}
}

// CacheDir is the directory of the cache ("" for memory only).
func (d *Data) CacheDir() string { return d.opts.CacheDir }

// Index returns the current index (never nil).
func (d *Data) Index() *Index {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.index
}

// Loaded reports whether the first Load has finished.
func (d *Data) Loaded() bool {
	select {
	case <-d.loaded:
		return true
	default:
		return false
	}
}

// Wait blocks until the first Load has finished or ctx ends, and reports whether it finished.
func (d *Data) Wait(ctx context.Context) bool {
	select {
	case <-d.loaded:
		return true
	case <-ctx.Done():
		return d.Loaded()
	}
}

// Load reads the cache (seeding absent files from SeedDir) and builds the index. Missing or
// unreadable files are not an error: the agent works with what it has and says so in Warnings.
// The raw files are parsed one at a time and not kept.
func (d *Data) Load(ctx context.Context) error {
	defer d.markLoaded()
	return d.load(ctx)
}

// Start is what the agent runs once it serves: Load, then RefreshIfStale. While files are
// absent after reading the cache (a fresh node), the first load counts as finished only once
// their fetch has been tried, so a lookup meanwhile waits for it (bounded by its ctx; Status
// says "loading") instead of finding the files missing. With every file cached, stale or not,
// the load is finished as soon as the cache is read and the refetch runs behind it.
func (d *Data) Start(ctx context.Context) (fetched bool, loadErr, fetchErr error) {
	defer d.markLoaded()
	loadErr = d.load(ctx)
	if d.allPresent() {
		d.markLoaded()
	}
	fetched, fetchErr = d.RefreshIfStale(ctx)
	return fetched, loadErr, fetchErr
}

func (d *Data) markLoaded() { d.loadedOnce.Do(func() { close(d.loaded) }) }

// allPresent reports whether every file has a usable copy.
func (d *Data) allPresent() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, f := range Files {
		if !d.files[f].Present {
			return false
		}
	}
	return true
}

func (d *Data) load(ctx context.Context) error {
	d.op.Lock()
	defer d.op.Unlock()
	meta := cacheMeta{Files: map[string]fileMeta{}}
	var errs []error
	if d.opts.CacheDir != "" {
		if err := os.MkdirAll(d.opts.CacheDir, 0o755); err != nil {
			return fmt.Errorf("create manager cache dir: %w", err)
		}
		var err error
		if meta, err = readMeta(d.opts.CacheDir); err != nil {
			errs = append(errs, err) // the files are still usable; their dates fall back to mtimes
		}
	}
	seedMeta := cacheMeta{Files: map[string]fileMeta{}}
	if d.opts.SeedDir != "" {
		seedMeta, _ = readMeta(d.opts.SeedDir)
	}
	metaChanged := false
	for _, f := range Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.opts.CacheDir != "" {
			p := filepath.Join(d.opts.CacheDir, f)
			if b, fi, err := readFile(p); err == nil {
				rec, ok := meta.Files[f]
				if !ok {
					// A cache written before meta.json existed: its mtime is the best date known.
					rec = fileMeta{FetchedAt: fi.ModTime(), Source: "cache"}
				}
				d.install(f, b, rec)
				continue
			} else if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		if d.opts.SeedDir == "" {
			continue
		}
		b, fi, err := readFile(filepath.Join(d.opts.SeedDir, f))
		if err != nil {
			continue
		}
		rec, ok := seedMeta.Files[f]
		if !ok {
			rec = fileMeta{FetchedAt: fi.ModTime()}
		}
		rec.Source = "seed:" + d.opts.SeedDir
		if !d.install(f, b, rec) || d.opts.CacheDir == "" {
			continue
		}
		if err := atomicfile.Write(filepath.Join(d.opts.CacheDir, f), b, 0o644); err != nil {
			errs = append(errs, fmt.Errorf("cache %s: %w", f, err))
			continue
		}
		meta.Files[f] = rec
		metaChanged = true
	}
	if metaChanged {
		if err := writeMeta(d.opts.CacheDir, meta); err != nil {
			errs = append(errs, fmt.Errorf("write manager cache record: %w", err))
		}
	}
	d.publish()
	return errors.Join(errs...)
}

func readFile(p string) ([]byte, fs.FileInfo, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, nil, err
	}
	b, err := os.ReadFile(p)
	return b, fi, err
}

// install parses one file into the parts and records its status; publish makes it visible.
// It reports whether the file parsed.
func (d *Data) install(name string, b []byte, rec fileMeta) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	next := d.parts
	if err := next.parse(name, b); err != nil {
		d.warns[name] = fmt.Sprintf("ComfyUI-Manager %s is unreadable (%v); the previous copy, if any, stays in use", name, err)
		return false
	}
	d.parts = next
	delete(d.warns, name)
	s := d.files[name]
	s.Present, s.FetchedAt, s.Source = true, rec.FetchedAt, rec.Source
	return true
}

// publish builds a new index version from the current parts.
func (d *Data) publish() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.version++
	d.index = d.parts.build(d.version)
}

// Refresh downloads every file from its URL, replacing the cached copy of each one that
// succeeds. Failed files keep their cached copy; the joined error names them.
func (d *Data) Refresh(ctx context.Context) error { return d.refresh(ctx, Files) }

// RefreshIfStale downloads the files that are absent or older than max_age, and nothing when
// the whole cache is fresh. It reports whether it fetched anything.
func (d *Data) RefreshIfStale(ctx context.Context) (bool, error) {
	var want []string
	for _, s := range d.Status().Files {
		if s.Stale {
			want = append(want, s.Name)
		}
	}
	if len(want) == 0 {
		return false, nil
	}
	return true, d.refresh(ctx, want)
}

func (d *Data) refresh(ctx context.Context, names []string) error {
	d.op.Lock()
	defer d.op.Unlock()
	var errs []error
	got := map[string]fileMeta{}
	for _, f := range names {
		u := d.opts.URLs[f]
		b, _, err := d.fetch(ctx, u)
		if err == nil {
			err = d.store(f, b, fileMeta{FetchedAt: d.opts.Now(), Source: u})
		}
		d.mu.Lock()
		if err != nil {
			d.files[f].LastError = err.Error()
		} else {
			d.files[f].LastError = ""
		}
		d.mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("fetch %s (%s): %w", f, ConfigKeys[f], err))
			continue
		}
		got[f] = fileMeta{FetchedAt: d.opts.Now(), Source: u}
	}
	if len(got) > 0 {
		if err := d.recordMeta(got); err != nil {
			errs = append(errs, err)
		}
		d.publish()
	}
	return errors.Join(errs...)
}

// store validates b as the named file, then writes it to the cache and installs it.
func (d *Data) store(name string, b []byte, rec fileMeta) error {
	var check parts
	if err := check.parse(name, b); err != nil {
		return err
	}
	if d.opts.CacheDir != "" {
		if err := os.MkdirAll(d.opts.CacheDir, 0o755); err != nil {
			return fmt.Errorf("create manager cache dir: %w", err)
		}
		if err := atomicfile.Write(filepath.Join(d.opts.CacheDir, name), b, 0o644); err != nil {
			return fmt.Errorf("cache %s: %w", name, err)
		}
	}
	d.mu.Lock()
	d.parts = mergePart(d.parts, check, name)
	delete(d.warns, name)
	s := d.files[name]
	s.Present, s.FetchedAt, s.Source = true, rec.FetchedAt, rec.Source
	d.mu.Unlock()
	return nil
}

// mergePart returns p with the part of file name taken from q.
func mergePart(p, q parts, name string) parts {
	switch name {
	case FileNodeMap:
		p.nodes = q.nodes
	case FileStats:
		p.stats = q.stats
	case FileCustomList:
		p.custom = q.custom
	case FileModelList:
		p.models = q.models
	}
	return p
}

func (d *Data) recordMeta(recs map[string]fileMeta) error {
	if d.opts.CacheDir == "" {
		return nil
	}
	meta, err := readMeta(d.opts.CacheDir)
	if err != nil {
		meta = cacheMeta{Files: map[string]fileMeta{}} // rewritten whole below
	}
	for f, r := range recs {
		meta.Files[f] = r
	}
	if err := writeMeta(d.opts.CacheDir, meta); err != nil {
		return fmt.Errorf("write manager cache record: %w", err)
	}
	return nil
}

// fetch GETs one file; lastModified is the server's Last-Modified (zero when absent).
func (d *Data) fetch(ctx context.Context, url string) (b []byte, lastModified time.Time, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, time.Time{}, err
	}
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, time.Time{}, &httpStatusError{url: url, code: resp.StatusCode}
	}
	b, err = io.ReadAll(io.LimitReader(resp.Body, d.opts.MaxFileBytes+1))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read %s: %w", url, err)
	}
	if int64(len(b)) > d.opts.MaxFileBytes {
		return nil, time.Time{}, fmt.Errorf("GET %s: larger than %d bytes", url, d.opts.MaxFileBytes)
	}
	if len(b) == 0 || (b[0] != '{' && b[0] != '[') {
		return nil, time.Time{}, fmt.Errorf("GET %s: not a JSON document", url)
	}
	lm, _ := http.ParseTime(resp.Header.Get("Last-Modified"))
	return b, lm, nil
}

type httpStatusError struct {
	url  string
	code int
}

func (e *httpStatusError) Error() string { return fmt.Sprintf("GET %s: HTTP %d", e.url, e.code) }

// ImportResult says what Import loaded.
type ImportResult struct {
	Source   string       `json:"source"`
	Imported []string     `json:"imported"`
	Missing  []string     `json:"missing"`
	Files    []FileStatus `json:"files"`
}

// Import loads an operator's copy of the Manager files into the cache: src is a directory on
// this machine or an http(s) URL of a folder holding them (extension-node-map.json, ...). Each
// file is dated with at (when non-zero), else the source's record (a meta.json next to the
// files, the file's mtime, the server's Last-Modified), else now. Every file found must parse;
// a source with none of the files, or with one that does not parse, imports nothing and
// returns an error wrapping ErrBadSource.
func (d *Data) Import(ctx context.Context, src string, at time.Time) (ImportResult, error) {
	src = strings.TrimSpace(src)
	res := ImportResult{Source: src, Imported: []string{}, Missing: []string{}}
	var read func(name string) ([]byte, time.Time, error)
	switch {
	case IsURL(src):
		base := strings.TrimSuffix(src, "/") + "/"
		read = func(name string) ([]byte, time.Time, error) {
			b, lm, err := d.fetch(ctx, base+name)
			var se *httpStatusError
			if errors.As(err, &se) && se.code == http.StatusNotFound {
				return nil, time.Time{}, fs.ErrNotExist
			}
			return b, lm, err
		}
	case strings.Contains(src, "://"):
		return res, fmt.Errorf("%w: %q is neither a directory nor an http(s) URL", ErrBadSource, src)
	case src == "" || !filepath.IsAbs(src):
		return res, fmt.Errorf("%w: %q must be an absolute directory path or an http(s) URL", ErrBadSource, src)
	default:
		fi, err := os.Stat(src)
		if err != nil || !fi.IsDir() {
			return res, fmt.Errorf("%w: %s is not a directory", ErrBadSource, src)
		}
		read = readFrom(os.DirFS(src), src)
	}
	return d.importFiles(res, read, at)
}

// IsURL reports whether an import source is an http(s) URL rather than a directory.
func IsURL(src string) bool {
	return strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")
}

// ImportFS is Import from the files of fsys, named label in the result and in errors. The API
// passes a folder opened inside [manager] import_root (an os.Root), so neither the request's
// path nor a symlink in the folder reads anything outside it.
func (d *Data) ImportFS(fsys fs.FS, label string, at time.Time) (ImportResult, error) {
	res := ImportResult{Source: label, Imported: []string{}, Missing: []string{}}
	return d.importFiles(res, readFrom(fsys, label), at)
}

// readFrom reads the Manager files of fsys, dated by a meta.json beside them, else their mtime.
func readFrom(fsys fs.FS, label string) func(name string) ([]byte, time.Time, error) {
	srcMeta, _ := readMetaFS(fsys, label)
	return func(name string) ([]byte, time.Time, error) {
		fi, err := fs.Stat(fsys, name)
		if err != nil {
			return nil, time.Time{}, err
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, time.Time{}, err
		}
		if r, ok := srcMeta.Files[name]; ok && !r.FetchedAt.IsZero() {
			return b, r.FetchedAt, nil
		}
		return b, fi.ModTime(), nil
	}
}

// importFiles reads every Manager file through read, checks that each parses, and installs them.
func (d *Data) importFiles(res ImportResult, read func(name string) ([]byte, time.Time, error), at time.Time) (ImportResult, error) {
	src := res.Source
	got := map[string][]byte{}
	dates := map[string]time.Time{}
	for _, f := range Files {
		b, date, err := read(f)
		if errors.Is(err, fs.ErrNotExist) {
			res.Missing = append(res.Missing, f)
			continue
		}
		if err != nil {
			return res, fmt.Errorf("%w: read %s: %v", ErrBadSource, f, err)
		}
		var check parts
		if err := check.parse(f, b); err != nil {
			return res, fmt.Errorf("%w: %v", ErrBadSource, err)
		}
		switch {
		case !at.IsZero():
			date = at
		case date.IsZero():
			date = d.opts.Now()
		}
		got[f], dates[f] = b, date
	}
	if len(got) == 0 {
		return res, fmt.Errorf("%w: %s holds none of %s", ErrBadSource, src, strings.Join(Files, ", "))
	}
	d.op.Lock()
	defer d.op.Unlock()
	recs := map[string]fileMeta{}
	var errs []error
	for _, f := range Files {
		b, ok := got[f]
		if !ok {
			continue
		}
		rec := fileMeta{FetchedAt: dates[f], Source: "import:" + src}
		if err := d.store(f, b, rec); err != nil {
			errs = append(errs, err)
			continue
		}
		recs[f] = rec
		res.Imported = append(res.Imported, f)
	}
	if len(recs) > 0 {
		if err := d.recordMeta(recs); err != nil {
			errs = append(errs, err)
		}
		d.publish()
	}
	d.markLoaded()
	res.Files = d.Status().Files
	return res, errors.Join(errs...)
}

// Status reports the data as a whole and every file.
func (d *Data) Status() Status {
	d.mu.RLock()
	now := d.opts.Now()
	st := Status{CacheDir: d.opts.CacheDir, MaxAge: d.opts.MaxAge.String(), Version: d.version,
		Files: make([]FileStatus, 0, len(Files))}
	present, stale := 0, 0
	for _, f := range Files {
		s := *d.files[f]
		s.Stale = !s.Present || now.Sub(s.FetchedAt) > d.opts.MaxAge
		if s.Present {
			present++
			if s.Stale {
				stale++
			}
		}
		st.Files = append(st.Files, s)
	}
	warns := make([]string, 0, len(d.warns))
	for _, f := range Files {
		if w := d.warns[f]; w != "" {
			warns = append(warns, w)
		}
	}
	d.mu.RUnlock()
	switch {
	case !d.Loaded():
		st.State = "loading"
	case present == 0:
		st.State = "missing"
	case present < len(Files):
		st.State = "partial"
	case stale > 0:
		st.State = "stale"
	default:
		st.State = "ok"
	}
	st.Warnings = append(warns, d.fileWarnings(st)...)
	return st
}

// Healthy reports whether the data is usable for node-pack resolution: every file present
// (stale data is still used), or the cache still loading.
func (d *Data) Healthy() (bool, Status) {
	st := d.Status()
	switch st.State {
	case "ok", "stale", "loading":
		return true, st
	}
	return false, st
}

// Warnings says what analysis results lack because Manager data is absent, stale or loading.
func (d *Data) Warnings() []string { return d.Status().Warnings }

func (d *Data) fileWarnings(st Status) []string {
	var out []string
	if st.State == "loading" {
		return []string{"ComfyUI-Manager data is still loading (from " + orMemory(st.CacheDir) + ", and the files it lacks from the [manager] URLs); custom node packs may be unresolved, retry in a moment"}
	}
	for _, s := range st.Files {
		fix := fmt.Sprintf("the agent fetches it from %s (POST /api/manager-data/refresh); %s", s.ConfigKey, offlineFix)
		switch {
		case !s.Present && s.Name == FileNodeMap:
			out = append(out, fmt.Sprintf("ComfyUI-Manager %s is not cached: custom node types cannot be mapped to packs (only core nodes are recognised); %s", s.Name, fix))
		case !s.Present && s.Name == FileModelList:
			out = append(out, fmt.Sprintf("ComfyUI-Manager %s is not cached: model sizes and URLs from it are unavailable; %s", s.Name, fix))
		case !s.Present:
			out = append(out, fmt.Sprintf("ComfyUI-Manager %s is not cached; %s", s.Name, fix))
		case s.Stale:
			out = append(out, fmt.Sprintf("ComfyUI-Manager %s is stale (obtained %s, manager.max_age is %s); results may miss newer node packs", s.Name,
				s.FetchedAt.UTC().Format(time.RFC3339), st.MaxAge))
		}
	}
	return out
}

func orMemory(dir string) string {
	if dir == "" {
		return "memory"
	}
	return dir
}
