package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Entry is one file of the store as the index knows it. The sha256 is computed once in the
// background and kept while size and mtime are unchanged.
type Entry struct {
	Path    string    `json:"path"` // store-relative, "/"-separated: "checkpoints/sdxl/a.safetensors"
	Folder  string    `json:"folder"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
	Created time.Time `json:"created"`
	SHA256  string    `json:"sha256,omitempty"`
	// HashedSize and HashedMtime are the stat the hash was computed for.
	HashedSize  int64 `json:"hashed_size,omitempty"`
	HashedMtime int64 `json:"hashed_mtime,omitempty"`
	// Where it came from, for update checks.
	SourceURL    string `json:"source_url,omitempty"`
	Source       string `json:"source,omitempty"`
	ETag         string `json:"etag,omitempty"`
	LinkedETag   string `json:"linked_etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`

	dev, ino uint64
}

// index is the in-memory view of the store, persisted (indexStore) so hashes and sources
// survive restarts.
type index struct {
	root    string
	layout  *Layout
	persist *indexStore

	mu      sync.Mutex
	entries map[string]*Entry
	// hashQ holds the files waiting for a hash, in scan order; queued is its set. A slice grows
	// with the store instead of a channel sized for the largest one (1 MB resident when idle).
	hashQ  []string
	queued map[string]bool
	wake   chan struct{} // one pending signal: hashQ has work
}

func newIndex(root string, layout *Layout, kv KV) (*index, error) {
	persist := &indexStore{kv: kv, log: slog.New(slog.DiscardHandler)}
	entries, err := persist.load()
	if err != nil {
		return nil, err
	}
	return &index{root: root, layout: layout, persist: persist, entries: entries, queued: map[string]bool{}, wake: make(chan struct{}, 1)}, nil
}

// scan walks the store and reconciles the index: new or changed files are (re)queued for
// hashing, vanished ones dropped. It skips .partial and hidden entries and follows symlinks.
func (ix *index) scan() error {
	seen := map[string]bool{}
	type found struct {
		rel string
		fi  fs.FileInfo
	}
	var files []found
	// ComfyUI follows symlinks (a folder linked to a NAS or a block volume is common); visited
	// real directories stop symlink loops.
	visited := map[string]bool{}
	var walk func(dir, relDir string) error
	walk = func(dir, relDir string) error {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			if visited[real] {
				return nil
			}
			visited[real] = true
		}
		des, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, d := range des {
			name := d.Name()
			if strings.HasPrefix(name, ".") {
				continue
			}
			p := filepath.Join(dir, name)
			rel := name
			if relDir != "" {
				rel = relDir + "/" + name
			}
			isDir := d.IsDir()
			if d.Type()&fs.ModeSymlink != 0 {
				fi, err := os.Stat(p)
				if err != nil {
					continue // dangling link
				}
				isDir = fi.IsDir()
			}
			if isDir {
				_ = walk(p, rel) // an unreadable subtree is skipped, the rest still indexed
				continue
			}
			if !HasModelExt(name) {
				continue
			}
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			files = append(files, found{rel, fi})
		}
		return nil
	}
	err := walk(ix.root, "")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("scan models: %w", err)
	}
	ix.mu.Lock()
	var changed []*Entry
	for _, f := range files {
		seen[f.rel] = true
		e := ix.entries[f.rel]
		if e == nil {
			e = &Entry{Path: f.rel}
			ix.entries[f.rel] = e
		}
		mt := f.fi.ModTime()
		dev, ino, ctime := statIDs(f.fi)
		e.dev, e.ino = dev, ino
		folder := ix.layout.FolderOf(f.rel)
		if e.Size == f.fi.Size() && e.ModTime.Equal(mt) && e.Folder == folder {
			if e.SHA256 == "" {
				ix.enqueueLocked(f.rel)
			}
			continue
		}
		e.Folder, e.Size, e.ModTime = folder, f.fi.Size(), mt
		if e.Created.IsZero() {
			e.Created = ctime
		}
		if e.HashedSize != e.Size || e.HashedMtime != mt.UnixNano() {
			e.SHA256 = ""
			ix.enqueueLocked(f.rel)
		}
		changed = append(changed, e)
	}
	var gone []string
	for p := range ix.entries {
		if !seen[p] {
			gone = append(gone, p)
			delete(ix.entries, p)
		}
	}
	batch := make([]Entry, 0, len(changed))
	for _, e := range changed {
		batch = append(batch, *e)
	}
	ix.mu.Unlock()
	ix.persist.putMany(batch)
	for _, p := range gone {
		ix.persist.remove(p)
	}
	return nil
}

func (ix *index) enqueueLocked(rel string) {
	if ix.queued[rel] {
		return
	}
	ix.queued[rel] = true
	ix.hashQ = append(ix.hashQ, rel)
	select {
	case ix.wake <- struct{}{}:
	default: // a signal is already pending
	}
}

// nextToHash takes the first queued file off hashQ; ok is false when none waits.
func (ix *index) nextToHash() (rel string, ok bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if len(ix.hashQ) == 0 {
		ix.hashQ = nil // let a drained backlog's array go
		return "", false
	}
	rel, ix.hashQ = ix.hashQ[0], ix.hashQ[1:]
	return rel, true
}

// hashLoop computes missing hashes one file at a time (sequential reads are what disks like).
func (ix *index) hashLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ix.wake:
		}
		for rel, ok := ix.nextToHash(); ok && ctx.Err() == nil; rel, ok = ix.nextToHash() {
			ix.hashOne(ctx, rel)
		}
	}
}

func (ix *index) hashOne(ctx context.Context, rel string) {
	ix.mu.Lock()
	delete(ix.queued, rel)
	e := ix.entries[rel]
	ix.mu.Unlock()
	if e == nil {
		return
	}
	p := filepath.Join(ix.root, filepath.FromSlash(rel))
	sum, fi, err := hashFile(ctx, p)
	if err != nil {
		return
	}
	ix.mu.Lock()
	e = ix.entries[rel]
	// Only record the hash if the file did not change while we read it.
	if e == nil || fi.Size() != e.Size || !fi.ModTime().Equal(e.ModTime) {
		ix.mu.Unlock()
		return
	}
	e.SHA256, e.HashedSize, e.HashedMtime = sum, fi.Size(), fi.ModTime().UnixNano()
	cp := *e
	ix.mu.Unlock()
	ix.persist.put(&cp)
}

// hashFile returns the sha256 of p and its stat taken before reading.
func hashFile(ctx context.Context, p string) (string, fs.FileInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", nil, err
	}
	h := sha256.New()
	buf := make([]byte, 4<<20)
	for {
		if ctx.Err() != nil {
			return "", nil, ctx.Err()
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", nil, err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), fi, nil
}

// refresh reconciles one file's entry (cheaper than a full scan before a single lookup).
func (ix *index) refresh(rel string) {
	fi, err := os.Stat(filepath.Join(ix.root, filepath.FromSlash(rel)))
	if err != nil || !fi.Mode().IsRegular() {
		ix.remove(rel)
		return
	}
	ix.mu.Lock()
	e := ix.entries[rel]
	if e != nil && e.Size == fi.Size() && e.ModTime.Equal(fi.ModTime()) {
		ix.mu.Unlock()
		return
	}
	if e == nil {
		e = &Entry{Path: rel}
		ix.entries[rel] = e
	}
	dev, ino, ctime := statIDs(fi)
	e.Folder, e.Size, e.ModTime, e.dev, e.ino = ix.layout.FolderOf(rel), fi.Size(), fi.ModTime(), dev, ino
	if e.Created.IsZero() {
		e.Created = ctime
	}
	if e.HashedSize != e.Size || e.HashedMtime != fi.ModTime().UnixNano() {
		e.SHA256 = ""
	}
	cp := *e
	ix.mu.Unlock()
	ix.persist.put(&cp)
}

// hashNow hashes rel synchronously (dedupe and delete-by-hash need a definite answer).
func (ix *index) hashNow(ctx context.Context, rel string) (string, error) {
	ix.mu.Lock()
	e := ix.entries[rel]
	if e != nil && e.SHA256 != "" {
		s := e.SHA256
		ix.mu.Unlock()
		return s, nil
	}
	ix.mu.Unlock()
	ix.hashOne(ctx, rel)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if e := ix.entries[rel]; e != nil && e.SHA256 != "" {
		return e.SHA256, nil
	}
	return "", fmt.Errorf("hash %s: file changed or unreadable", rel)
}

// snapshot returns copies of every entry sorted by path.
func (ix *index) snapshot() []Entry {
	ix.mu.Lock()
	out := make([]Entry, 0, len(ix.entries))
	for _, e := range ix.entries {
		out = append(out, *e)
	}
	ix.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func (ix *index) get(rel string) (Entry, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	e, ok := ix.entries[rel]
	if !ok {
		return Entry{}, false
	}
	return *e, true
}

// bySHA returns an entry whose verified hash is sum.
func (ix *index) bySHA(sum string) (Entry, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, e := range ix.entries {
		if e.SHA256 == sum {
			return *e, true
		}
	}
	return Entry{}, false
}

// record stores what a finished download knows about its file (source, validators, hash).
func (ix *index) record(rel string, fi fs.FileInfo, mutate func(e *Entry)) {
	ix.mu.Lock()
	e := ix.entries[rel]
	if e == nil {
		e = &Entry{Path: rel, Created: fi.ModTime()}
		ix.entries[rel] = e
	}
	e.Folder, e.Size, e.ModTime = ix.layout.FolderOf(rel), fi.Size(), fi.ModTime()
	e.dev, e.ino, _ = statIDs(fi)
	mutate(e)
	cp := *e
	ix.mu.Unlock()
	ix.persist.put(&cp)
}

func (ix *index) remove(rel string) {
	ix.mu.Lock()
	delete(ix.entries, rel)
	ix.mu.Unlock()
	ix.persist.remove(rel)
}

// statIDs returns device, inode and change time (the closest to a creation time stat offers).
func statIDs(fi fs.FileInfo) (dev, ino uint64, ctime time.Time) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), st.Ino, time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec))
	}
	return 0, 0, fi.ModTime()
}
