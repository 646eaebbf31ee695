package workflow

import (
	"path"
	"strings"
)

// ModelRef is one model file a workflow needs, keyed by (Folder, Filename).
type ModelRef struct {
	// Filename is the name as ComfyUI lists it: relative to the folder, "/"-separated, with any
	// subfolder kept ("sd15/a.safetensors").
	Filename string `json:"filename"`
	// Folder is the ComfyUI folder key ("checkpoints", "loras", ...), "" when unknown.
	Folder   string `json:"folder"`
	NodeType string `json:"node_type"`
	NodeID   string `json:"node_id"`
	// Input is the node input that names the file, when known.
	Input string `json:"input,omitempty"`
	URL   string `json:"url,omitempty"`
	// URLSource says where URL came from: workflow, launcher or comfyui-manager (model list).
	URLSource string `json:"url_source,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
	// Size in bytes when known (local file, launcher.json, source, Manager model list).
	Size int64 `json:"size,omitempty"`
	// Source says how the reference was found: loader, metadata, embedding, url, extension, or
	// the id of an extension parser.
	Source string `json:"source"`
	// AutoDownload marks files the node downloads itself at run time; never "missing".
	AutoDownload bool `json:"auto_download,omitempty"`
	// Directory marks a value that is a directory (diffusers), not a file.
	Directory bool `json:"directory,omitempty"`
	// Inactive marks models only used by muted or bypassed nodes.
	Inactive       bool   `json:"inactive,omitempty"`
	InactiveReason string `json:"inactive_reason,omitempty"`
}

// Key is the (folder, name) identity of a model.
func (m ModelRef) Key() string { return m.Folder + "\x00" + m.Filename }

// PackHint is a node-type-to-pack claim an extension parser makes for types it knows.
type PackHint struct {
	NodeType string `json:"node_type"`
	Repo     string `json:"repo"`
}

// Findings collects what the parser chain recognises. Parsers add to it; each model is kept once
// per (folder, name), merging the details later parsers know.
type Findings struct {
	Models   []ModelRef
	Packs    []PackHint
	Tags     []string
	Warnings []string
	index    map[string]int
	names    map[string]bool
}

// AddModel records m, merging it into an earlier reference with the same (folder, name).
func (f *Findings) AddModel(m ModelRef) {
	m.Filename = NormalizeName(m.Filename)
	if m.Filename == "" {
		return
	}
	if f.index == nil {
		f.index, f.names = map[string]int{}, map[string]bool{}
	}
	if m.URL != "" && m.URLSource == "" {
		m.URLSource = "workflow"
	}
	f.names[strings.ToLower(m.Filename)] = true
	f.names[strings.ToLower(path.Base(m.Filename))] = true
	if i, ok := f.index[m.Key()]; ok {
		e := &f.Models[i]
		if e.Inactive && !m.Inactive {
			e.Inactive, e.InactiveReason = false, ""
			e.NodeType, e.NodeID, e.Input = m.NodeType, m.NodeID, m.Input
		}
		if e.NodeID == "" && m.NodeID != "" {
			e.NodeType, e.NodeID, e.Input = m.NodeType, m.NodeID, m.Input
		}
		if e.URL == "" {
			e.URL, e.URLSource = m.URL, m.URLSource
		}
		if e.SHA256 == "" {
			e.SHA256 = m.SHA256
		}
		if e.Size == 0 {
			e.Size = m.Size
		}
		e.AutoDownload = e.AutoDownload && m.AutoDownload
		return
	}
	f.index[m.Key()] = len(f.Models)
	f.Models = append(f.Models, m)
}

// HasName reports whether a model with this name (or base name) was found in any folder.
func (f *Findings) HasName(name string) bool {
	n := strings.ToLower(NormalizeName(name))
	return f.names[n] || f.names[path.Base(n)]
}

// Enrich adds url/hash details to every model named name (any folder when folder is "").
// It reports whether one matched.
func (f *Findings) Enrich(folder, name, url, sha string) bool {
	name = NormalizeName(name)
	hit := false
	for i := range f.Models {
		m := &f.Models[i]
		if !strings.EqualFold(m.Filename, name) && !strings.EqualFold(path.Base(m.Filename), path.Base(name)) {
			continue
		}
		if folder != "" && m.Folder != "" && m.Folder != folder {
			continue
		}
		hit = true
		if m.URL == "" && url != "" {
			m.URL, m.URLSource = url, "workflow"
		}
		if m.SHA256 == "" {
			m.SHA256 = sha
		}
		if m.Folder == "" {
			m.Folder = folder
		}
	}
	return hit
}

// Warn records a warning.
func (f *Findings) Warn(s string) { f.Warnings = append(f.Warnings, s) }

// Tag records a workflow tag.
func (f *Findings) Tag(s string) { f.Tags = append(f.Tags, s) }

// NormalizeName turns a workflow's model value into ComfyUI's relative name: Windows separators
// become "/", and leading "./" or "/" are dropped.
func NormalizeName(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\\", "/"))
	for strings.HasPrefix(s, "./") {
		s = s[2:]
	}
	return strings.TrimLeft(s, "/")
}
