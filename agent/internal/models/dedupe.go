package models

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/comfylauncher/launcher/agent/internal/bytesize"
)

// linkInto makes rel a hard link of the stored file src (a copy across devices), published
// atomically: link or copy into .partial, fsync, rename, fsync the directory.
func (t *tree) linkInto(src, rel string) error {
	_, from, err := t.storePath(src)
	if err != nil {
		return err
	}
	_, to, err := t.storePath(rel)
	if err != nil {
		return err
	}
	if err := t.stagingPath(t.partDir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(t.partDir, "link-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	tmp.Close()
	os.Remove(tmpName)
	if err := os.Link(from, tmpName); err != nil {
		if !errors.Is(err, syscall.EXDEV) && !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.EMLINK) {
			return fmt.Errorf("link %s: %w", src, err)
		}
		if err := copyFile(from, tmpName); err != nil {
			os.Remove(tmpName)
			return err
		}
	}
	if err := os.Rename(tmpName, to); err != nil {
		os.Remove(tmpName)
		return err
	}
	if d, err := os.Open(filepath.Dir(to)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// dupGroup is a set of stored files with the same content in distinct inodes.
type dupGroup struct {
	SHA256 string   `json:"sha256"`
	Size   int64    `json:"size"`
	Paths  []string `json:"paths"`
	// Copies is the number of distinct inodes; Reclaimable = Size * (Copies-1).
	Copies      int   `json:"copies"`
	Reclaimable int64 `json:"reclaimable"`
}

// duplicates groups hashed entries by sha256 and counts distinct inodes (hard links already
// share their bytes).
func duplicates(entries []Entry) []dupGroup {
	type key struct{ dev, ino uint64 }
	by := map[string][]Entry{}
	for _, e := range entries {
		if e.SHA256 != "" && e.Size > 0 {
			by[e.SHA256] = append(by[e.SHA256], e)
		}
	}
	var out []dupGroup
	for sha, es := range by {
		if len(es) < 2 {
			continue
		}
		inodes := map[key]bool{}
		g := dupGroup{SHA256: sha, Size: es[0].Size}
		for _, e := range es {
			inodes[key{e.dev, e.ino}] = true
			g.Paths = append(g.Paths, e.Path)
		}
		g.Copies = len(inodes)
		if g.Copies < 2 {
			continue
		}
		sort.Strings(g.Paths)
		g.Reclaimable = g.Size * int64(g.Copies-1)
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Reclaimable > out[j].Reclaimable })
	return out
}

// DedupeReport is the result of Dedupe.
type DedupeReport struct {
	DryRun          bool       `json:"dry_run"`
	Groups          []dupGroup `json:"groups"`
	FilesLinked     int        `json:"files_linked"`
	BytesReclaimed  int64      `json:"bytes_reclaimed"`
	ReclaimedHuman  string     `json:"bytes_reclaimed_human"`
	Errors          []string   `json:"errors,omitempty"`
	UnhashedSkipped int        `json:"unhashed_skipped"`
}

// Dedupe replaces identical files stored twice by hard links to one copy (the first path in
// sort order). Every file is re-hashed synchronously first, so only verified duplicates are
// linked.
func (s *Storage) Dedupe(ctx context.Context, dryRun bool) (DedupeReport, error) {
	if err := s.ix.scan(); err != nil {
		return DedupeReport{}, err
	}
	rep := DedupeReport{DryRun: dryRun}
	for _, e := range s.ix.snapshot() {
		if e.SHA256 == "" {
			if _, err := s.ix.hashNow(ctx, e.Path); err != nil {
				rep.UnhashedSkipped++
			}
		}
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	if err := s.ix.scan(); err != nil {
		return rep, err
	}
	rep.Groups = duplicates(s.ix.snapshot())
	if rep.Groups == nil {
		rep.Groups = []dupGroup{}
	}
	for _, g := range rep.Groups {
		keep := g.Paths[0]
		ke, _ := s.ix.get(keep)
		for _, p := range g.Paths[1:] {
			e, ok := s.ix.get(p)
			if !ok || (e.dev == ke.dev && e.ino == ke.ino) {
				continue
			}
			if dryRun {
				rep.FilesLinked++
				rep.BytesReclaimed += e.Size
				continue
			}
			if err := s.tree.linkInto(keep, p); err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", p, err))
				continue
			}
			rep.FilesLinked++
			rep.BytesReclaimed += e.Size
		}
	}
	rep.ReclaimedHuman = bytesize.Format(rep.BytesReclaimed)
	s.ix.scan()
	return rep, nil
}
