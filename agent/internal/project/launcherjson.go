package project

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// launcherJSON is the part of the original launcher's launcher.json the install pipeline
// reads (research/launcher.md §4). The bundled templates omit "format".
type launcherJSON struct {
	Format       string          `json:"format"`
	Version      string          `json:"version"`
	WorkflowJSON json.RawMessage `json:"workflow_json"`
	Snapshot     struct {
		ComfyUI        *string                  `json:"comfyui"`
		GitCustomNodes map[string]customNodeRef `json:"git_custom_nodes"`
	} `json:"snapshot_json"`
	Files           [][]fileAlt       `json:"files"`
	PipRequirements []json.RawMessage `json:"pip_requirements"`
}

type customNodeRef struct {
	Hash     *string `json:"hash"`
	Disabled bool    `json:"disabled"`
}

type fileAlt struct {
	DownloadURL      string `json:"download_url"`
	DestRelativePath string `json:"dest_relative_path"`
	SHA256           string `json:"sha256_checksum"`
	Size             int64  `json:"size"`
}

func parseLauncherJSON(raw json.RawMessage) (*launcherJSON, error) {
	var lj launcherJSON
	if len(raw) == 0 || string(raw) == "null" {
		return &lj, nil
	}
	// The workflow is most of the bytes (megabytes for a large one) and only copied here.
	if err := decodeWithout(raw, "workflow_json", &lj, &lj.WorkflowJSON); err != nil {
		return nil, apierr.Wrap(apierr.Invalid, "ValidationError", err, "launcher JSON is malformed: "+err.Error(),
			"Export the workflow again with \"Export workflow (Launcher)\" or import the plain workflow JSON")
	}
	for url, ref := range lj.Snapshot.GitCustomNodes {
		if nodeDirName(url) == "" {
			return nil, apierr.Newf(apierr.Invalid, "ValidationError", "custom node URL %q has no repository name", url).
				Suggest("Fix snapshot_json.git_custom_nodes in the launcher JSON")
		}
		if ref.Hash != nil && !isRef(*ref.Hash) {
			return nil, apierr.Newf(apierr.Invalid, "ValidationError", "custom node %q has an invalid hash %q", url, *ref.Hash).
				Suggest("Use a commit hash or null")
		}
	}
	if lj.Snapshot.ComfyUI != nil && *lj.Snapshot.ComfyUI != "" && !isRef(*lj.Snapshot.ComfyUI) {
		return nil, apierr.Newf(apierr.Invalid, "ValidationError", "snapshot_json.comfyui %q is not a commit", *lj.Snapshot.ComfyUI).
			Suggest("Use a commit hash or null")
	}
	for i, alts := range lj.Files {
		for _, a := range alts {
			if err := checkFileDest(a.DestRelativePath); err != nil {
				return nil, apierr.Newf(apierr.Invalid, "ValidationError", "files[%d]: %v", i, err).
					Suggest("dest_relative_path must look like models/<folder>/<file> or input/<file>")
			}
		}
	}
	return &lj, nil
}

// isRef accepts commit hashes, tags and branch names but nothing a shell or git would read
// as an option or a path escape.
func isRef(s string) bool {
	if s == "" || strings.HasPrefix(s, "-") || strings.Contains(s, "..") || len(s) > 200 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._/-+", r)) {
			return false
		}
	}
	return true
}

// nodeDirName is the folder a custom node repository is cloned into, as the original did:
// the last path element without ".git".
func nodeDirName(url string) string {
	u := strings.TrimRight(url, "/")
	name := strings.TrimSuffix(u[strings.LastIndexAny(u, "/:")+1:], ".git")
	if name == "" || name == "." || name == ".." || strings.HasPrefix(name, "-") {
		return ""
	}
	return name
}

// modelPath splits "models/<folder>/<name>" into folder and file name; the folder may be
// nested (e.g. "models/checkpoints/sdxl/x.safetensors" -> "checkpoints/sdxl", "x.safetensors").
func modelPath(dest string) (folder, name string, err error) {
	p := path.Clean(strings.ReplaceAll(dest, "\\", "/"))
	if path.IsAbs(p) || strings.HasPrefix(p, "..") {
		return "", "", fmt.Errorf("dest_relative_path %q escapes the ComfyUI folder", dest)
	}
	p = strings.TrimPrefix(p, "comfyui/")
	rest, ok := strings.CutPrefix(p, "models/")
	if !ok {
		return "", "", fmt.Errorf("dest_relative_path %q is not under models/", dest)
	}
	folder, name = path.Split(rest)
	folder = strings.TrimSuffix(folder, "/")
	if folder == "" || name == "" {
		return "", "", fmt.Errorf("dest_relative_path %q has no model folder", dest)
	}
	return folder, name, nil
}

// pipRequirementLines renders pip_requirements as requirements.txt lines: strings verbatim,
// pkg_resources dicts as "_key==_version".
func pipRequirementLines(reqs []json.RawMessage) []string {
	var out []string
	for _, r := range reqs {
		var s string
		if json.Unmarshal(r, &s) == nil {
			if s = strings.TrimSpace(s); s != "" && !strings.HasPrefix(s, "-") {
				out = append(out, s)
			}
			continue
		}
		var d struct {
			Key     string `json:"_key"`
			Version string `json:"_version"`
		}
		if json.Unmarshal(r, &d) == nil && d.Key != "" && !strings.HasPrefix(d.Key, "-") {
			if d.Version != "" {
				out = append(out, d.Key+"=="+d.Version)
			} else {
				out = append(out, d.Key)
			}
		}
	}
	return out
}

// modelPaths lists "folder/name" for every file of the launcher JSON (first alternative).
func (lj *launcherJSON) modelPaths() []string {
	var out []string
	for _, alts := range lj.Files {
		if len(alts) == 0 {
			continue
		}
		if folder, name, err := modelPath(alts[0].DestRelativePath); err == nil {
			out = append(out, folder+"/"+name)
		}
	}
	return out
}

// prefixFiles names the launcher JSON entry in a refusal from the model store.
func prefixFiles(i, j int, dest string, err error) error {
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return apierr.Newf(ae.Kind, ae.Type, "files[%d][%d].dest_relative_path %q: %s", i, j, dest, ae.Message).
			Suggest(ae.Suggestions...)
	}
	return fmt.Errorf("files[%d][%d].dest_relative_path %q: %w", i, j, dest, err)
}
