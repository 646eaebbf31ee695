package models

import (
	"os"
	"sort"
	"sync"

	"github.com/comfylauncher/launcher/agent/internal/bytesize"
)

// projectUse knows which models the projects use (used_by_projects, usage by project and the
// in-use check of a delete).
type projectUse struct {
	layout *Layout

	mu       sync.Mutex
	projects ProjectModels
}

// set wires the provider of the projects' models (nil-safe).
func (u *projectUse) set(p ProjectModels) {
	u.mu.Lock()
	u.projects = p
	u.mu.Unlock()
}

// models is project id -> model references, nil when no provider is wired.
func (u *projectUse) models() map[string][]string {
	u.mu.Lock()
	p := u.projects
	u.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.ModelsByProject()
}

// usedBy maps each store path to the projects whose manifests reference it.
func (u *projectUse) usedBy(entries []Entry) map[string][]string {
	pm := u.models()
	if len(pm) == 0 {
		return nil
	}
	byKey := map[string][]string{}
	for pid, refs := range pm {
		seen := map[string]bool{}
		for _, ref := range refs {
			k := u.layout.RefKey(ref)
			if !seen[k] {
				seen[k] = true
				byKey[k] = append(byKey[k], pid)
			}
		}
	}
	out := map[string][]string{}
	for _, e := range entries {
		key, name := u.layout.Split(e.Path)
		if p := byKey[key+"/"+name]; len(p) > 0 {
			ps := append([]string(nil), p...)
			sort.Strings(ps)
			out[e.Path] = ps
		}
	}
	return out
}

// SizeHuman is a size with its human-readable form.
type SizeHuman struct {
	Size          int64  `json:"size"`
	HumanReadable string `json:"human_readable"`
	Count         int    `json:"count"`
}

// Disk is the filesystem holding the store.
type Disk struct {
	Total              uint64  `json:"total"`
	Used               uint64  `json:"used"`
	Free               uint64  `json:"free"`
	Percent            float64 `json:"percent"`
	TotalHumanReadable string  `json:"total_human_readable"`
	UsedHumanReadable  string  `json:"used_human_readable"`
	FreeHumanReadable  string  `json:"free_human_readable"`
}

// Usage is the GET /api/storage/usage body.
type Usage struct {
	TotalSize          int64                `json:"total_size"`
	TotalHumanReadable string               `json:"total_human_readable"`
	ByType             map[string]SizeHuman `json:"by_type"`
	ByProject          map[string]SizeHuman `json:"by_project"`
	Disk               Disk                 `json:"disk"`
	// Reclaimable is what `launcher model dedupe` would free: identical files stored twice.
	Reclaimable struct {
		Bytes           int64  `json:"bytes"`
		HumanReadable   string `json:"human_readable"`
		DuplicateGroups int    `json:"duplicate_groups"`
	} `json:"reclaimable"`
	// Partial is the space held by unfinished downloads under .partial.
	Partial SizeHuman `json:"partial"`
	// ModelsDir is the store's directory (the original launcher reports it).
	ModelsDir string `json:"models_dir"`
	// Unhashed counts files whose sha256 is still being computed (reclaimable may grow).
	Unhashed int `json:"unhashed"`
}

// Storage is how the store's space is used and freed: usage by folder, project and disk,
// deletion of models no project uses, and dedupe of identical files.
type Storage struct {
	tree   *tree
	layout *Layout
	ix     *index
	use    *projectUse
}

// Usage reports storage by folder (every folder key, plus "other"), by project, the disk, the
// bytes dedupe could reclaim and the partial downloads.
func (s *Storage) Usage() (Usage, error) {
	if err := s.ix.scan(); err != nil {
		return Usage{}, err
	}
	entries := s.ix.snapshot()
	u := Usage{ByType: map[string]SizeHuman{}, ByProject: map[string]SizeHuman{}, ModelsDir: s.tree.root}
	for _, f := range s.layout.Folders() {
		u.ByType[f.Key] = SizeHuman{HumanReadable: bytesize.Format(0)}
	}
	u.ByType["other"] = SizeHuman{HumanReadable: bytesize.Format(0)}
	type inode struct{ dev, ino uint64 }
	counted := map[inode]bool{}
	for _, e := range entries {
		t := u.ByType[e.Folder]
		t.Size += e.Size
		t.Count++
		u.ByType[e.Folder] = t
		// Hard links share their bytes: the total counts each inode once.
		k := inode{e.dev, e.ino}
		if e.ino == 0 || !counted[k] {
			counted[k] = true
			u.TotalSize += e.Size
		}
		if e.SHA256 == "" {
			u.Unhashed++
		}
	}
	for k, t := range u.ByType {
		t.HumanReadable = bytesize.Format(t.Size)
		u.ByType[k] = t
	}
	used := s.use.usedBy(entries)
	sizes := map[string]int64{}
	for _, e := range entries {
		for _, p := range used[e.Path] {
			sizes[p] += e.Size
			c := u.ByProject[p]
			c.Count++
			u.ByProject[p] = c
		}
	}
	for pid := range s.use.models() {
		c := u.ByProject[pid]
		c.Size = sizes[pid]
		c.HumanReadable = bytesize.Format(c.Size)
		u.ByProject[pid] = c
	}
	u.TotalHumanReadable = bytesize.Format(u.TotalSize)
	for _, g := range duplicates(entries) {
		u.Reclaimable.Bytes += g.Reclaimable
		u.Reclaimable.DuplicateGroups++
	}
	u.Reclaimable.HumanReadable = bytesize.Format(u.Reclaimable.Bytes)
	if des, err := os.ReadDir(s.tree.partDir); err == nil {
		for _, d := range des {
			if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() {
				u.Partial.Size += fi.Size()
				u.Partial.Count++
			}
		}
	}
	u.Partial.HumanReadable = bytesize.Format(u.Partial.Size)
	if total, used, free, err := diskUsage(s.tree.root); err == nil && total > 0 {
		// psutil's definition: percent of the space available to users that is used.
		pct := 0.0
		if used+free > 0 {
			pct = round2(float64(used) * 100 / float64(used+free))
		}
		u.Disk = Disk{Total: total, Used: used, Free: free, Percent: pct,
			TotalHumanReadable: bytesize.Format(int64(total)), UsedHumanReadable: bytesize.Format(int64(used)), FreeHumanReadable: bytesize.Format(int64(free))}
	}
	return u, nil
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
