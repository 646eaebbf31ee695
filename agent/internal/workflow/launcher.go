package workflow

import (
	"encoding/json"
	"path"
	"sort"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/comfy"
)

// LauncherFormat and LauncherVersion are the values of the original launcher.json format.
const (
	LauncherFormat  = "comfyui_launcher"
	LauncherVersion = "1.0"
)

// LauncherJSON is the original ComfyUI-Launcher project file (ComfyUI-ComfyWorkflows exports.py,
// SCHEMA_VERSION 1.0). Fields the agent does not interpret are kept in Extra so a file read and
// written back loses nothing.
type LauncherJSON struct {
	Format          string           `json:"format"`
	Version         string           `json:"version"`
	WorkflowJSON    json.RawMessage  `json:"workflow_json"`
	SnapshotJSON    Snapshot         `json:"snapshot_json"`
	Files           [][]LauncherFile `json:"files"`
	PipRequirements []any            `json:"pip_requirements"`
	// Extra holds other top-level fields (os, python_version, ...), written back as they were.
	Extra map[string]json.RawMessage `json:"-"`
}

// Snapshot pins ComfyUI and the custom nodes.
type Snapshot struct {
	// ComfyUI is a commit hash, or nil for the default branch.
	ComfyUI         *string                 `json:"comfyui"`
	GitCustomNodes  map[string]GitNodeState `json:"git_custom_nodes"`
	FileCustomNodes []FileCustomNode        `json:"file_custom_nodes"`
}

// GitNodeState is one git custom node of a snapshot.
type GitNodeState struct {
	Hash     *string `json:"hash"`
	Disabled bool    `json:"disabled"`
}

// FileCustomNode is a single-file custom node of a snapshot (the original installer ignores them).
type FileCustomNode struct {
	Filename string `json:"filename"`
	Disabled bool   `json:"disabled"`
}

// LauncherFile is one download alternative for a file.
type LauncherFile struct {
	DownloadURL      string `json:"download_url"`
	DestRelativePath string `json:"dest_relative_path"`
	SHA256Checksum   string `json:"sha256_checksum"`
	Size             int64  `json:"size"`
}

var launcherKnown = map[string]bool{"format": true, "version": true, "workflow_json": true, "snapshot_json": true, "files": true, "pip_requirements": true}

// MarshalJSON writes the known fields followed by Extra.
func (l LauncherJSON) MarshalJSON() ([]byte, error) {
	type plain LauncherJSON
	p := plain(l)
	if p.Files == nil {
		p.Files = [][]LauncherFile{}
	}
	if p.PipRequirements == nil {
		p.PipRequirements = []any{}
	}
	if p.SnapshotJSON.GitCustomNodes == nil {
		p.SnapshotJSON.GitCustomNodes = map[string]GitNodeState{}
	}
	if p.SnapshotJSON.FileCustomNodes == nil {
		p.SnapshotJSON.FileCustomNodes = []FileCustomNode{}
	}
	if len(p.WorkflowJSON) == 0 {
		p.WorkflowJSON = json.RawMessage("null")
	}
	b, err := json.Marshal(p)
	if err != nil || len(l.Extra) == 0 {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range l.Extra {
		if !launcherKnown[k] {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the known fields and keeps the rest in Extra.
func (l *LauncherJSON) UnmarshalJSON(b []byte) error {
	type plain LauncherJSON
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*l = LauncherJSON(p)
	for k, v := range m {
		if !launcherKnown[k] {
			if l.Extra == nil {
				l.Extra = map[string]json.RawMessage{}
			}
			l.Extra[k] = v
		}
	}
	return nil
}

// isLauncher: format "comfyui_launcher", or a bundled template (no format) with workflow_json.
func isLauncher(obj map[string]any) bool {
	if f, _ := obj["format"].(string); f == LauncherFormat {
		return true
	}
	_, hasWF := obj["workflow_json"]
	_, hasFiles := obj["files"]
	_, hasSnap := obj["snapshot_json"]
	return hasWF && (hasFiles || hasSnap || len(obj) == 1)
}

// parseLauncher converts a decoded launcher object, with errors that name the field.
func parseLauncher(obj map[string]any) (*LauncherJSON, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, invalid("launcher JSON: %v", err)
	}
	var lj LauncherJSON
	if err := json.Unmarshal(b, &lj); err != nil {
		if te, ok := err.(*json.UnmarshalTypeError); ok {
			return nil, invalid("launcher JSON: field %q must be %s, got %s", te.Field, te.Type, te.Value)
		}
		return nil, invalid("launcher JSON: %v", err)
	}
	if len(lj.WorkflowJSON) == 0 || string(lj.WorkflowJSON) == "null" {
		return nil, invalid("launcher JSON has no \"workflow_json\"")
	}
	for i, alts := range lj.Files {
		for j, f := range alts {
			if f.DestRelativePath != "" && !safeRel(f.DestRelativePath) {
				return nil, invalid("launcher JSON files[%d][%d].dest_relative_path %q leaves the ComfyUI directory", i, j, f.DestRelativePath)
			}
		}
	}
	return &lj, nil
}

// safeRel reports whether p is a relative path that stays inside its root.
func safeRel(p string) bool {
	p = strings.ReplaceAll(p, "\\", "/")
	if p == "" || strings.HasPrefix(p, "/") || (len(p) > 1 && p[1] == ':') {
		return false
	}
	c := path.Clean(p)
	return c != ".." && !strings.HasPrefix(c, "../")
}

// launcherModel splits a dest_relative_path "models/<folder>/<name>" into (folder, name).
func launcherModel(dest string) (folder, name string, ok bool) {
	d := strings.TrimPrefix(strings.ReplaceAll(dest, "\\", "/"), "./")
	rest, found := strings.CutPrefix(d, "models/")
	if !found {
		return "", "", false
	}
	folder, name, ok = strings.Cut(rest, "/")
	return comfy.CanonicalFolder(folder), name, ok && name != ""
}

// DestPath is the dest_relative_path of a model in the launcher format. A model of unknown folder
// goes to checkpoints, the folder most loaders of unknown packs read (ComfyUI-Manager's own
// fallback, models/etc, is not scanned by ComfyUI).
func DestPath(folder, name string) string {
	if folder == "" {
		folder = "checkpoints"
	}
	return "models/" + folder + "/" + NormalizeName(name)
}

// BuildLauncherJSON makes a launcher JSON for an analysed workflow: the workflow as given (the UI
// graph when the input had one), a snapshot with the resolved git packs, and download
// alternatives for every active model with a known URL (extra alternatives come from extra).
func BuildLauncherJSON(doc *Document, md *Metadata, extra map[string][]LauncherFile) (*LauncherJSON, error) {
	wf, err := json.Marshal(doc.Root)
	if err != nil {
		return nil, err
	}
	lj := &LauncherJSON{
		Format: LauncherFormat, Version: LauncherVersion, WorkflowJSON: wf,
		SnapshotJSON: Snapshot{GitCustomNodes: map[string]GitNodeState{}},
	}
	if doc.Launcher != nil {
		lj.SnapshotJSON = doc.Launcher.SnapshotJSON
		if lj.SnapshotJSON.GitCustomNodes == nil {
			lj.SnapshotJSON.GitCustomNodes = map[string]GitNodeState{}
		}
		lj.PipRequirements = doc.Launcher.PipRequirements
		lj.Extra = doc.Launcher.Extra
	}
	for _, p := range md.RequiredCustomNodes {
		if p.Repo == "" || !strings.HasPrefix(p.Repo, "https://") {
			continue
		}
		if _, ok := lj.SnapshotJSON.GitCustomNodes[p.Repo]; ok {
			continue
		}
		st := GitNodeState{}
		if shaRe.MatchString(p.Version) && len(p.Version) == 40 {
			v := p.Version
			st.Hash = &v
		}
		lj.SnapshotJSON.GitCustomNodes[p.Repo] = st
	}
	seen := map[string]bool{}
	if doc.Launcher != nil {
		for _, alts := range doc.Launcher.Files {
			if len(alts) > 0 {
				seen[alts[0].DestRelativePath] = true
				lj.Files = append(lj.Files, alts)
			}
		}
	}
	for _, m := range md.RequiredModels {
		if m.AutoDownload || m.Directory {
			continue
		}
		dest := DestPath(m.Folder, m.Filename)
		if seen[dest] {
			continue
		}
		var alts []LauncherFile
		if m.URL != "" {
			alts = append(alts, LauncherFile{DownloadURL: m.URL, DestRelativePath: dest, SHA256Checksum: m.SHA256, Size: m.Size})
		}
		for _, a := range extra[dest] {
			if a.DownloadURL != "" && (len(alts) == 0 || a.DownloadURL != alts[0].DownloadURL) {
				a.DestRelativePath = dest
				alts = append(alts, a)
			}
		}
		if len(alts) == 0 {
			continue
		}
		seen[dest] = true
		lj.Files = append(lj.Files, alts)
	}
	sort.SliceStable(lj.Files, func(i, j int) bool { return lj.Files[i][0].DestRelativePath < lj.Files[j][0].DestRelativePath })
	return lj, nil
}
