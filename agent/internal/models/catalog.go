package models

import (
	"context"
	"os"
	"path/filepath"
	"sort"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/bytesize"
)

// Catalog is what the store holds: the folder layout, the index of every file (kept by a
// scan and hashed in the background) and the look-ups of models by folder and path.
type Catalog struct {
	tree   *tree
	layout *Layout
	ix     *index
	use    *projectUse
}

// Start indexes the store and hashes unhashed files in the background until ctx ends.
func (c *Catalog) Start(ctx context.Context) error {
	if err := c.ix.scan(); err != nil {
		return err
	}
	go c.ix.hashLoop(ctx)
	return nil
}

// Rescan re-reads the store (after files were added or removed behind the agent's back).
func (c *Catalog) Rescan() error { return c.ix.scan() }

// IndexHealth is the "model_index" entry of GET /api/health: whether the index of the store
// (sources, hashes) is being persisted.
func (c *Catalog) IndexHealth() (bool, any) { return c.ix.persist.health() }

// Layout returns the folder layout.
func (c *Catalog) Layout() *Layout { return c.layout }

// ExtraModelPathsYAML is the extra_model_paths.yaml pointing a project's ComfyUI at the store.
func (c *Catalog) ExtraModelPathsYAML() []byte { return c.layout.ExtraModelPathsYAML(c.tree.root) }

// Lookup finds a model by folder key (or alias) and name in every directory of the folder.
// Unlike writes it follows symlinks out of the store, as ComfyUI does when it loads the model:
// it only tells whether and how large the file is.
func (c *Catalog) Lookup(folder, name string) (path string, size int64, ok bool) {
	rel, err := cleanRel(name)
	if err != nil {
		return "", 0, false
	}
	for _, d := range c.layout.Dirs(folder) {
		p := filepath.Join(c.tree.root, filepath.FromSlash(d), filepath.FromSlash(rel))
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, fi.Size(), true
		}
	}
	return "", 0, false
}

// CheckDest tells whether a project file meant for folder/name (a folder key, alias or store
// directory, as a launcher JSON's dest_relative_path gives it) can be provided by the store:
// nil when it is there already or may be written, else a 400 InvalidPathError naming the path
// and why.
func (c *Catalog) CheckDest(folder, name string) error {
	rel := folder + "/" + name
	if _, ok := c.layout.Canonical(folder); ok {
		rel = relPath(c.layout, folder, name)
	}
	cl, err := cleanRel(rel)
	if err != nil {
		return badPath(rel, err.Error())
	}
	if fi, err := os.Stat(c.tree.abs(cl)); err == nil && fi.Mode().IsRegular() {
		return nil // there already (ComfyUI follows symlinks too): nothing is written
	}
	_, _, err = c.tree.storePath(cl)
	return err
}

// holds reports whether rel already holds the wanted file. A different file at the same
// path is a conflict the caller must resolve.
func (c *Catalog) holds(ctx context.Context, rel, sha string) (bool, error) {
	p := c.tree.abs(rel)
	fi, err := os.Stat(p)
	if err != nil {
		return false, nil
	}
	if !fi.Mode().IsRegular() {
		return false, apierr.Newf(apierr.Conflict, "ConflictError", "%s exists and is not a file", rel)
	}
	if sha == "" {
		return true, nil
	}
	c.ix.refresh(rel)
	got, err := c.ix.hashNow(ctx, rel)
	if err != nil {
		return false, err
	}
	if got != sha {
		return false, apierr.Newf(apierr.Conflict, "ConflictError", "%s already exists with a different sha256 (%s)", rel, got).
			Suggest("Delete it first (DELETE /api/models/"+rel+")", "Or download under another filename")
	}
	return true, nil
}

// ModelInfo is one model in GET /api/models (spec/api.md) plus the index's extras.
type ModelInfo struct {
	Filename       string   `json:"filename"`
	Path           string   `json:"path"`
	Type           string   `json:"type"`
	Size           int64    `json:"size"`
	SizeHuman      string   `json:"size_human"`
	Modified       string   `json:"modified"`
	Created        string   `json:"created"`
	UsedByProjects []string `json:"used_by_projects"`
	SHA256         string   `json:"sha256,omitempty"`
	Source         string   `json:"source,omitempty"`
	SourceURL      string   `json:"source_url,omitempty"`
}

// ModelList is the GET /api/models body.
type ModelList struct {
	Models         []ModelInfo `json:"models"`
	TotalCount     int         `json:"total_count"`
	TotalSize      int64       `json:"total_size"`
	TotalSizeHuman string      `json:"total_size_human"`
}

// spec timestamps look like "2024-01-01T12:00:00" (local time, no zone).
const specTime = "2006-01-02T15:04:05"

// List rescans the store and returns every model.
func (c *Catalog) List() (ModelList, error) {
	if err := c.ix.scan(); err != nil {
		return ModelList{}, err
	}
	entries := c.ix.snapshot()
	used := c.use.usedBy(entries)
	out := ModelList{Models: make([]ModelInfo, 0, len(entries))}
	for _, e := range entries {
		u := used[e.Path]
		if u == nil {
			u = []string{}
		}
		out.Models = append(out.Models, ModelInfo{
			Filename: filepath.Base(e.Path), Path: e.Path, Type: e.Folder, Size: e.Size, SizeHuman: bytesize.Format(e.Size),
			Modified: e.ModTime.Local().Format(specTime), Created: e.Created.Local().Format(specTime),
			UsedByProjects: u, SHA256: e.SHA256, Source: e.Source, SourceURL: e.SourceURL,
		})
		out.TotalSize += e.Size
	}
	// Largest first, as the original launcher lists them.
	sort.SliceStable(out.Models, func(i, j int) bool { return out.Models[i].Size > out.Models[j].Size })
	out.TotalCount = len(out.Models)
	out.TotalSizeHuman = bytesize.Format(out.TotalSize)
	return out, nil
}

// Get is the model at a client-supplied store path: 400 for a path the store refuses, 404
// when there is none.
func (c *Catalog) Get(raw string) (ModelInfo, error) {
	rel, _, err := c.tree.existing(raw)
	if err != nil {
		return ModelInfo{}, err
	}
	l, err := c.List()
	if err != nil {
		return ModelInfo{}, err
	}
	for _, m := range l.Models {
		if m.Path == rel {
			return m, nil
		}
	}
	return ModelInfo{}, notFoundModel(rel)
}
