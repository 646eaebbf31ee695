package models

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/events"
	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/models/sources"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

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

// cleanRel validates a store-relative name: no absolute paths, no "..", no hidden segments.
func cleanRel(name string) (string, error) {
	name = strings.ReplaceAll(name, "\\", "/") // workflows saved on Windows
	if name == "" {
		return "", errors.New("empty path")
	}
	if strings.HasPrefix(name, "/") || filepath.IsAbs(name) || (len(name) > 1 && name[1] == ':') {
		return "", errors.New("absolute paths are not allowed")
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == ".." {
			return "", errors.New("\"..\" is not allowed")
		}
		if strings.HasPrefix(seg, ".") && seg != "." {
			return "", errors.New("hidden path segments are not allowed")
		}
		if strings.ContainsRune(seg, 0) {
			return "", errors.New("NUL in path")
		}
	}
	c := path.Clean(name)
	if c == "." || c == "" {
		return "", errors.New("empty path")
	}
	return c, nil
}

// normalize validates req and fills what can be known without the network.
func (s *Service) normalize(req *DownloadRequest) error {
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
	if _, ok := s.layout.Canonical(req.Folder); !ok {
		return invalid(fmt.Sprintf("unknown model folder %q", req.Folder), "Use one of: "+strings.Join(s.folderKeys(), ", "),
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

func (s *Service) folderKeys() []string {
	var keys []string
	for _, f := range s.layout.Folders() {
		keys = append(keys, f.Key)
	}
	return keys
}

// relPath is the store-relative destination of a request with a known filename.
func (s *Service) relPath(folder, filename string) string {
	dir, _ := s.layout.Dir(folder)
	return dir + "/" + filename
}

// Submit validates req and starts (or joins) a download operation. A file already present with
// the right hash (or, without a hash, present at all) needs no operation.
func (s *Service) Submit(ctx context.Context, req DownloadRequest) (Submitted, error) {
	if err := s.normalize(&req); err != nil {
		return Submitted{}, err
	}
	var rel string
	if req.Filename != "" {
		rel = s.relPath(req.Folder, req.Filename)
		// A file already there (ComfyUI follows symlinks too) needs no write.
		if done, err := s.present(ctx, rel, req.SHA256); err != nil {
			return Submitted{}, err
		} else if done {
			return Submitted{Path: rel, Status: "exists"}, nil
		}
		if id := s.activeDownload(rel); id != "" {
			return Submitted{OperationID: id, Path: rel, Status: "in_progress"}, nil
		}
		if _, _, err := s.storePath(rel); err != nil {
			return Submitted{}, err
		}
	}
	if s.runner == nil {
		return Submitted{}, apierr.New(apierr.Unavailable, "ServiceUnavailableError", "downloads are not available: the recovery runner is not wired")
	}
	meta := map[string]any{"url": req.URL, "source": req.Source, "folder": req.Folder, "filename": req.Filename,
		"sha256": req.SHA256, "path": rel}
	if req.ProjectID != "" {
		meta["project_id"] = req.ProjectID
	}
	id, err := s.runner.Submit(ctx, FunctionDownload, meta)
	if err != nil {
		return Submitted{}, err
	}
	return Submitted{OperationID: id, Path: rel, Status: "pending"}, nil
}

// present reports whether rel already holds the wanted file. A different file at the same
// path is a conflict the caller must resolve.
func (s *Service) present(ctx context.Context, rel, sha string) (bool, error) {
	p := filepath.Join(s.root, filepath.FromSlash(rel))
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
	s.ix.refresh(rel)
	got, err := s.ix.hashNow(ctx, rel)
	if err != nil {
		return false, err
	}
	if got != sha {
		return false, apierr.Newf(apierr.Conflict, "ConflictError", "%s already exists with a different sha256 (%s)", rel, got).
			Suggest("Delete it first (DELETE /api/models/"+rel+")", "Or download under another filename")
	}
	return true, nil
}

// activeDownload returns the id of an unfinished download of rel (single-flight across
// projects), or "".
func (s *Service) activeDownload(rel string) string {
	if s.runner == nil {
		return ""
	}
	ops, _ := s.runner.List(recovery.Filter{Function: FunctionDownload, States: []recovery.State{recovery.StatePending, recovery.StateInProgress, recovery.StateRecovering}})
	for _, op := range ops {
		if p, _ := op.Metadata["path"].(string); p == rel {
			return op.ID
		}
	}
	return ""
}

// definition is the download_model operation: resolve the reference, then fetch (or link) the
// file. Both steps are idempotent; the fetch step resumes from its checkpoint.
func (s *Service) definition() recovery.Definition {
	return recovery.Definition{
		Name:        FunctionDownload,
		MaxAttempts: s.opts.MaxAttempts,
		Steps: []recovery.Step{
			{Name: "resolve", Run: s.stepResolve},
			{Name: "download_files", Run: s.stepDownload},
		},
		Target: func(meta map[string]any) string {
			u, _ := meta["url"].(string)
			if u == "" {
				u, _ = meta["resolved_url"].(string)
			}
			if pu, err := url.Parse(u); err == nil && pu.Host != "" {
				return pu.Host
			}
			return ""
		},
		OnTerminal: s.onTerminal,
	}
}

func metaString(op *recovery.Op, key string) string {
	v, _ := op.Meta(key)
	s, _ := v.(string)
	return s
}

func (s *Service) stepResolve(ctx context.Context, op *recovery.Op) error {
	if metaString(op, "resolved_url") != "" && metaString(op, "path") != "" {
		return nil
	}
	ref := metaString(op, "source")
	if ref == "" {
		ref = metaString(op, "url")
	}
	res, err := s.reg.Resolve(ctx, ref)
	if err != nil {
		if errors.Is(err, sources.ErrUnresolvable) {
			return recovery.WithClass(recovery.ClassNotFound, err)
		}
		return err
	}
	filename := metaString(op, "filename")
	if filename == "" {
		if filename, err = cleanRel(res.Filename); err != nil || !HasModelExt(filename) {
			return recovery.WithClass(recovery.ClassIntegrity, fmt.Errorf("source gave no usable file name (%q): pass \"filename\"", res.Filename))
		}
		if err := op.SetMeta("filename", filename); err != nil {
			return err
		}
	}
	if metaString(op, "sha256") == "" && res.SHA256 != "" {
		if err := op.SetMeta("sha256", res.SHA256); err != nil {
			return err
		}
	}
	if metaString(op, "path") == "" {
		if err := op.SetMeta("path", s.relPath(metaString(op, "folder"), filename)); err != nil {
			return err
		}
	}
	if err := op.SetMeta("resolved_by", res.Source); err != nil {
		return err
	}
	return op.SetMeta("resolved_url", res.URL)
}

func (s *Service) partPath(opID string) string {
	return filepath.Join(s.partDir, opID+".part")
}

func (s *Service) stepDownload(ctx context.Context, op *recovery.Op) error {
	rel := metaString(op, "path")
	sha := metaString(op, "sha256")
	if _, err := cleanRel(rel); err != nil {
		return recovery.WithClass(recovery.ClassPermission, badPath(rel, err.Error()))
	}
	dest := filepath.Join(s.root, filepath.FromSlash(rel))
	pg := &progressPublisher{s: s, op: op, file: path.Base(rel), project: metaString(op, "project_id")}

	if done, err := s.present(ctx, rel, sha); err != nil {
		return recovery.WithClass(recovery.ClassIntegrity, err)
	} else if done {
		pg.done(0)
		return nil
	}
	// A file with this hash is already stored: link it, zero bytes downloaded.
	if sha != "" {
		if e, ok := s.ix.bySHA(sha); ok {
			if err := s.linkInto(e.Path, rel); err == nil {
				s.recordDownload(rel, download.Result{SHA256: sha}, op, "dedupe:"+e.Path)
				pg.done(e.Size)
				return nil
			}
		}
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-ctx.Done():
		return recovery.WithClass(recovery.ClassCancelled, ctx.Err())
	}
	// The path may come from a source (stepResolve) or from before this check existed, and a
	// folder may have been replaced while the download waited: check right before writing.
	if _, _, err := s.storePath(rel); err != nil {
		return recovery.WithClass(recovery.ClassPermission, err)
	}
	if err := s.stagingPath(s.partPath(op.ID())); err != nil {
		return recovery.WithClass(recovery.ClassPermission, err)
	}
	req := download.Request{URL: metaString(op, "resolved_url"), Dest: dest, Part: s.partPath(op.ID()), SHA256: sha}
	res, err := s.dl.Fetch(ctx, req, download.OpCheckpointer{Op: op}, pg.report)
	if err != nil {
		err = recovery.WithClass(download.ClassOf(err), err)
		if d := download.RetryAfterOf(err); d > 0 {
			err = recovery.WithRetryAfter(d, err)
		}
		return err
	}
	s.recordDownload(rel, res, op, "")
	pg.done(res.Size)
	return nil
}

// recordDownload puts what the download learnt (hash, source, validators) into the index.
func (s *Service) recordDownload(rel string, res download.Result, op *recovery.Op, linkedFrom string) {
	fi, err := os.Stat(filepath.Join(s.root, filepath.FromSlash(rel)))
	if err != nil {
		return
	}
	srcURL := metaString(op, "resolved_url")
	s.ix.record(rel, fi, func(e *Entry) {
		e.SHA256, e.HashedSize, e.HashedMtime = res.SHA256, fi.Size(), fi.ModTime().UnixNano()
		e.SourceURL, e.Source = redactURL(srcURL), firstNonEmpty(metaString(op, "source"), metaString(op, "resolved_by"))
		e.ETag, e.LinkedETag, e.LastModified = res.Validator, res.LinkedETag, res.LastModified
		if strings.HasPrefix(res.Validator, "W/") || !strings.HasPrefix(res.Validator, "\"") {
			e.ETag = ""
		}
	})
	if linkedFrom != "" {
		op.SetMeta("linked_from", strings.TrimPrefix(linkedFrom, "dedupe:"))
	}
}

// onTerminal removes the partial of a cancelled (not paused) download; failed ones keep it so
// a retry resumes.
func (s *Service) onTerminal(_ context.Context, op recovery.Operation) {
	paused, _ := op.Metadata["paused"].(bool)
	if op.State == recovery.StateCancelled && !paused || op.State == recovery.StateSuccess {
		os.Remove(s.partPath(op.ID))
	}
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func hostname(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// redactURL drops query strings (signed URLs, ?token=) and user info before a URL is shown.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.RawQuery, u.User, u.Fragment = "", nil, ""
	return u.String()
}

// BreakerHostDownloads is the operation_type of the downloader's per-host breakers in
// circuit_breaker_update (the target is the host).
const BreakerHostDownloads = "download_host"

// publishHostBreaker announces a per-host download breaker's state change like the recovery
// runner announces its own.
func publishHostBreaker(pub Publisher, c download.HostBreaker) {
	st := recovery.BreakerStatus{OperationType: BreakerHostDownloads, Target: c.Host, State: c.To,
		TimeoutRemaining: c.Remaining.Seconds(), FailureCount: c.Counts.TotalFailures,
		ConsecutiveFailures: c.Counts.ConsecutiveFailures, Requests: c.Counts.Requests, Threshold: c.Threshold, Trips: c.Trips}
	pub.Publish(events.TopicBreakers, recovery.EventBreaker, recovery.BreakerEventData(st, time.Now()))
}

// progressPublisher turns downloader progress into Op.Progress and progress_update events on
// the operation's topic and its project's.
type progressPublisher struct {
	s       *Service
	op      *recovery.Op
	file    string
	project string
}

func (p *progressPublisher) report(pr download.Progress) {
	pct := 0.0
	if pr.Total > 0 {
		pct = float64(pr.Bytes) * 100 / float64(pr.Total)
	}
	p.emit(pct, pr.Bytes, pr.Total, pr.SpeedBps)
}

func (p *progressPublisher) done(size int64) { p.emit(100, size, size, 0) }

func (p *progressPublisher) emit(pct float64, bytes, total int64, speed float64) {
	fields := map[string]any{"current_file": p.file, "file_progress": pct, "bytes_downloaded": bytes, "total_bytes": total, "speed_bps": speed}
	p.op.Progress(pct, fields)
	prog := map[string]any{"stage": "download_files", "progress": pct}
	for k, v := range fields {
		prog[k] = v
	}
	ev := map[string]any{"project_id": p.project, "operation_id": p.op.ID(), "progress": prog}
	p.s.pub.Publish(events.DownloadTopic(p.op.ID()), events.Progress, ev)
	if p.project != "" {
		p.s.pub.Publish(events.ProjectTopic(p.project), events.Progress, ev)
	}
}
