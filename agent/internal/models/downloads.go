package models

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/models/sources"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

// Downloads takes download requests: it validates them and starts (or joins) download
// operations on the recovery runner, and cleans the partial files no operation can resume.
// The operation itself is downloadOp; DownloadOps shows and controls the running ones.
type Downloads struct {
	tree     *tree
	layout   *Layout
	catalog  *Catalog
	runner   Runner
	settings Settings
}

// Settings are the effective download settings.
type Settings struct {
	// MaxConcurrent files download at once.
	MaxConcurrent int
	// MaxAttempts per download operation (0: the runner's default).
	MaxAttempts int
	// Download is the downloader's configuration (connections, checkpoints, stall timeout).
	Download download.Options
}

// Settings returns the effective download settings.
func (d *Downloads) Settings() Settings { return d.settings }

// needRunner is nil when downloads can run on r, else a 503 saying why.
func needRunner(r Runner) error {
	if r == nil {
		return apierr.New(apierr.Unavailable, "ServiceUnavailableError", "downloads are not available: the recovery runner is not wired")
	}
	return nil
}

// DownloadRequest asks for one file in the store. Either URL or Source (a reference such as
// "hf:org/repo/file@rev", "civitai:123", "manager:file.safetensors") is required.
type DownloadRequest struct {
	URL       string `json:"url,omitempty"`
	Source    string `json:"source,omitempty"`
	Folder    string `json:"folder"`
	Filename  string `json:"filename,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
	ProjectID string `json:"project_id,omitempty"`
}

// Submitted is the answer to a download request.
type Submitted struct {
	OperationID string `json:"operation_id,omitempty"`
	Path        string `json:"path,omitempty"`
	// Status is "pending" (a new operation), "in_progress" (an existing one for the same file)
	// or "exists" (nothing to do).
	Status string `json:"status"`
}

var shaRe = regexp.MustCompile(`^[0-9a-f]{64}$`)

func invalid(msg string, suggestions ...string) *apierr.Error {
	return apierr.New(apierr.Invalid, "ValidationError", msg, suggestions...)
}

// normalize validates req and fills what can be known without the network.
func (d *Downloads) normalize(req *DownloadRequest) error {
	req.URL, req.Source = strings.TrimSpace(req.URL), strings.TrimSpace(req.Source)
	req.SHA256 = strings.ToLower(strings.TrimSpace(req.SHA256))
	if req.URL == "" && req.Source == "" {
		return invalid("\"url\" or \"source\" is required",
			"Send {\"url\": \"https://...\", \"folder\": \"checkpoints\"} or {\"source\": \"hf:org/repo/file.safetensors@main\", \"folder\": \"checkpoints\"}")
	}
	if req.URL != "" {
		u, err := url.Parse(req.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid(fmt.Sprintf("url %q is not an http(s) URL", redactURL(req.URL)), "Pass a full http:// or https:// URL, or use \"source\" for hf:/civitai: references")
		}
		if req.Filename == "" {
			req.Filename = sources.FilenameFromURL(u)
		}
	}
	if req.SHA256 != "" && !shaRe.MatchString(req.SHA256) {
		return invalid("sha256 must be 64 hex digits", "Omit sha256 or pass the file's full SHA-256")
	}
	if req.Folder == "" {
		return invalid("\"folder\" is required", "Use a ComfyUI folder key such as checkpoints, loras, vae, text_encoders, diffusion_models")
	}
	if _, ok := d.layout.Canonical(req.Folder); !ok {
		return invalid(fmt.Sprintf("unknown model folder %q", req.Folder), "Use one of: "+strings.Join(folderKeys(d.layout), ", "),
			"Custom node folders can be added under [downloads] extra_folders in launcher.toml")
	}
	if req.Filename == "" && req.Source != "" {
		if r, ok := hfFilename(req.Source); ok {
			req.Filename = r
		}
	}
	if req.Filename != "" {
		rel, err := cleanRel(req.Filename)
		if err != nil {
			return invalid(fmt.Sprintf("filename %q: %v", req.Filename, err), "Use a plain file name, optionally with subfolders: sdxl/model.safetensors")
		}
		if !HasModelExt(rel) {
			return invalid(fmt.Sprintf("filename %q has no model extension", req.Filename), "Use one of: "+strings.Join(Extensions, " "))
		}
		req.Filename = rel
	}
	return nil
}

func hfFilename(ref string) (string, bool) {
	s, ok := strings.CutPrefix(ref, "hf:")
	if !ok {
		return "", false
	}
	s = strings.TrimPrefix(s, "//")
	if i := strings.LastIndex(s, "@"); i > 0 {
		s = s[:i]
	}
	return path.Base(s), strings.Count(s, "/") >= 2
}

// folderKeys are the folder keys of l, in its order.
func folderKeys(l *Layout) []string {
	var keys []string
	for _, f := range l.Folders() {
		keys = append(keys, f.Key)
	}
	return keys
}

// relPath is the store-relative destination of a request with a known filename.
func relPath(l *Layout, folder, filename string) string {
	dir, _ := l.Dir(folder)
	return dir + "/" + filename
}

// Submit validates req and starts (or joins) a download operation. A file already present with
// the right hash (or, without a hash, present at all) needs no operation.
func (d *Downloads) Submit(ctx context.Context, req DownloadRequest) (Submitted, error) {
	if err := d.normalize(&req); err != nil {
		return Submitted{}, err
	}
	var rel string
	if req.Filename != "" {
		rel = relPath(d.layout, req.Folder, req.Filename)
		// A file already there (ComfyUI follows symlinks too) needs no write.
		if done, err := d.catalog.holds(ctx, rel, req.SHA256); err != nil {
			return Submitted{}, err
		} else if done {
			return Submitted{Path: rel, Status: "exists"}, nil
		}
		if id := d.activeDownload(rel); id != "" {
			return Submitted{OperationID: id, Path: rel, Status: "in_progress"}, nil
		}
		if _, _, err := d.tree.storePath(rel); err != nil {
			return Submitted{}, err
		}
	}
	if err := needRunner(d.runner); err != nil {
		return Submitted{}, err
	}
	meta := map[string]any{"url": req.URL, "source": req.Source, "folder": req.Folder, "filename": req.Filename,
		"sha256": req.SHA256, "path": rel}
	if req.ProjectID != "" {
		meta["project_id"] = req.ProjectID
	}
	id, err := d.runner.Submit(ctx, FunctionDownload, meta)
	if err != nil {
		return Submitted{}, err
	}
	return Submitted{OperationID: id, Path: rel, Status: "pending"}, nil
}

// activeDownload returns the id of an unfinished download of rel (single-flight across
// projects), or "".
func (d *Downloads) activeDownload(rel string) string {
	if d.runner == nil {
		return ""
	}
	ops, _ := d.runner.List(recovery.Filter{Function: FunctionDownload, States: []recovery.State{recovery.StatePending, recovery.StateInProgress, recovery.StateRecovering}})
	for _, op := range ops {
		if p, _ := op.Metadata["path"].(string); p == rel {
			return op.ID
		}
	}
	return ""
}

// EnsureFile makes sure the requested file is in the store: it returns at once when the file
// is there (with the right hash when one is given), otherwise it downloads it as an operation
// and waits for it.
func (d *Downloads) EnsureFile(ctx context.Context, req DownloadRequest) error {
	sub, err := d.Submit(ctx, req)
	if err != nil {
		return err
	}
	if sub.OperationID == "" {
		return nil
	}
	op, err := d.runner.Wait(ctx, sub.OperationID)
	if err != nil {
		return err
	}
	if op.State != recovery.StateSuccess {
		return fmt.Errorf("download %s: %s: %s", sub.Path, op.State, op.Error)
	}
	return nil
}
