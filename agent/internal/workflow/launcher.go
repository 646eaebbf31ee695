package workflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"slices"
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

// MarshalJSON writes the known fields in their order, or, with Extra, every field in key
// order (what encoding/json gives a map). WorkflowJSON is copied in as it is, never
// re-encoded: it is a workflow this package encoded or a value encoding/json read, and
// compacting a 4 MB workflow again costs more than the rest of an import. Callers that want
// the bytes call MarshalJSON directly; json.Marshal of a LauncherJSON still validates it.
func (l LauncherJSON) MarshalJSON() ([]byte, error) {
	wf := l.WorkflowJSON
	if len(wf) == 0 {
		wf = json.RawMessage("null")
	}
	if l.Files == nil {
		l.Files = [][]LauncherFile{}
	}
	if l.PipRequirements == nil {
		l.PipRequirements = []any{}
	}
	if l.SnapshotJSON.GitCustomNodes == nil {
		l.SnapshotJSON.GitCustomNodes = map[string]GitNodeState{}
	}
	if l.SnapshotJSON.FileCustomNodes == nil {
		l.SnapshotJSON.FileCustomNodes = []FileCustomNode{}
	}
	fields := []launcherField{{"format", l.Format}, {"version", l.Version}, {"workflow_json", wf},
		{"snapshot_json", l.SnapshotJSON}, {"files", l.Files}, {"pip_requirements", l.PipRequirements}}
	if len(l.Extra) > 0 {
		for k, v := range l.Extra {
			if !launcherKnown[k] {
				fields = append(fields, launcherField{k, v})
			}
		}
		slices.SortFunc(fields, func(a, b launcherField) int { return strings.Compare(a.key, b.key) })
	}
	buf := bytes.NewBuffer(make([]byte, 0, len(wf)+4<<10))
	buf.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(appendString(nil, f.key))
		buf.WriteByte(':')
		switch v := f.value.(type) {
		case json.RawMessage:
			if f.key == "workflow_json" {
				buf.Write(v)
			} else if err := json.Compact(buf, v); err != nil {
				return nil, fmt.Errorf("launcher JSON field %q: %w", f.key, err)
			}
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("launcher JSON field %q: %w", f.key, err)
			}
			buf.Write(b)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

type launcherField struct {
	key   string
	value any
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
	b, err := marshalValue(obj, 0)
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
	wf, err := marshalValue(doc.Root, len(doc.Raw))
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
