package models

import (
	"os"
	"path/filepath"
	"sort"

	"github.com/comfylauncher/launcher/agent/internal/bytesize"
)

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

// usedBy maps each store path to the projects whose manifests reference it.
func (s *Service) usedBy(entries []Entry) map[string][]string {
	pm := s.projectModels()
	if len(pm) == 0 {
		return nil
	}
	byKey := map[string][]string{}
	for pid, refs := range pm {
		seen := map[string]bool{}
		for _, ref := range refs {
			k := s.layout.RefKey(ref)
			if !seen[k] {
				seen[k] = true
				byKey[k] = append(byKey[k], pid)
			}
		}
	}
	out := map[string][]string{}
	for _, e := range entries {
		key, name := s.layout.Split(e.Path)
		if p := byKey[key+"/"+name]; len(p) > 0 {
			ps := append([]string(nil), p...)
			sort.Strings(ps)
			out[e.Path] = ps
		}
	}
	return out
}

// List rescans the store and returns every model.
func (s *Service) List() (ModelList, error) {
	if err := s.ix.scan(); err != nil {
		return ModelList{}, err
	}
	entries := s.ix.snapshot()
	used := s.usedBy(entries)
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

// Usage reports storage by folder (every folder key, plus "other"), by project, the disk, the
// bytes dedupe could reclaim and the partial downloads.
func (s *Service) Usage() (Usage, error) {
	if err := s.ix.scan(); err != nil {
		return Usage{}, err
	}
	entries := s.ix.snapshot()
	u := Usage{ByType: map[string]SizeHuman{}, ByProject: map[string]SizeHuman{}, ModelsDir: s.root}
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
	used := s.usedBy(entries)
	sizes := map[string]int64{}
	for _, e := range entries {
		for _, p := range used[e.Path] {
			sizes[p] += e.Size
			c := u.ByProject[p]
			c.Count++
			u.ByProject[p] = c
		}
	}
	for pid := range s.projectModels() {
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
	if des, err := os.ReadDir(s.partDir); err == nil {
		for _, d := range des {
			if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() {
				u.Partial.Size += fi.Size()
				u.Partial.Count++
			}
		}
	}
	u.Partial.HumanReadable = bytesize.Format(u.Partial.Size)
	if total, used, free, err := diskUsage(s.root); err == nil && total > 0 {
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
