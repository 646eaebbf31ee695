package models

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/events"
	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/models/sources"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

// downloadOp is the download_model recovery operation: its steps resolve a request's
// reference, then fetch the file (or link a stored copy) into the store.
type downloadOp struct {
	tree        *tree
	layout      *Layout
	ix          *index
	catalog     *Catalog
	dl          *download.Downloader
	reg         *sources.Resolver
	pub         Publisher
	maxAttempts int
	// slots bounds concurrent file transfers.
	slots chan struct{}
}

// definition is the download_model operation: resolve the reference, then fetch (or link) the
// file. Both steps are idempotent; the fetch step resumes from its checkpoint.
func (o *downloadOp) definition() recovery.Definition {
	return recovery.Definition{
		Name:        FunctionDownload,
		MaxAttempts: o.maxAttempts,
		Steps: []recovery.Step{
			{Name: "resolve", Run: o.stepResolve},
			{Name: "download_files", Run: o.stepDownload},
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
		OnTerminal: o.onTerminal,
	}
}

func metaString(op *recovery.Op, key string) string {
	v, _ := op.Meta(key)
	s, _ := v.(string)
	return s
}

func (o *downloadOp) stepResolve(ctx context.Context, op *recovery.Op) error {
	if metaString(op, "resolved_url") != "" && metaString(op, "path") != "" {
		return nil
	}
	ref := metaString(op, "source")
	if ref == "" {
		ref = metaString(op, "url")
	}
	res, err := o.reg.Resolve(ctx, ref)
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
		if err := op.SetMeta("path", relPath(o.layout, metaString(op, "folder"), filename)); err != nil {
			return err
		}
	}
	if err := op.SetMeta("resolved_by", res.Source); err != nil {
		return err
	}
	return op.SetMeta("resolved_url", res.URL)
}

func (o *downloadOp) stepDownload(ctx context.Context, op *recovery.Op) error {
	rel := metaString(op, "path")
	sha := metaString(op, "sha256")
	if _, err := cleanRel(rel); err != nil {
		return recovery.WithClass(recovery.ClassPermission, badPath(rel, err.Error()))
	}
	dest := o.tree.abs(rel)
	pg := &progressPublisher{pub: o.pub, op: op, file: path.Base(rel), project: metaString(op, "project_id")}

	if done, err := o.catalog.holds(ctx, rel, sha); err != nil {
		return recovery.WithClass(recovery.ClassIntegrity, err)
	} else if done {
		pg.done(0)
		return nil
	}
	// A file with this hash is already stored: link it, zero bytes downloaded.
	if sha != "" {
		if e, ok := o.ix.bySHA(sha); ok {
			if err := o.tree.linkInto(e.Path, rel); err == nil {
				o.recordDownload(rel, download.Result{SHA256: sha}, op, "dedupe:"+e.Path)
				pg.done(e.Size)
				return nil
			}
		}
	}
	select {
	case o.slots <- struct{}{}:
		defer func() { <-o.slots }()
	case <-ctx.Done():
		return recovery.WithClass(recovery.ClassCancelled, ctx.Err())
	}
	// The path may come from a source (stepResolve) or from before this check existed, and a
	// folder may have been replaced while the download waited: check right before writing.
	if _, _, err := o.tree.storePath(rel); err != nil {
		return recovery.WithClass(recovery.ClassPermission, err)
	}
	if err := o.tree.stagingPath(o.tree.partPath(op.ID())); err != nil {
		return recovery.WithClass(recovery.ClassPermission, err)
	}
	req := download.Request{URL: metaString(op, "resolved_url"), Dest: dest, Part: o.tree.partPath(op.ID()), SHA256: sha}
	res, err := o.dl.Fetch(ctx, req, download.OpCheckpointer{Op: op}, pg.report)
	if err != nil {
		err = recovery.WithClass(download.ClassOf(err), err)
		if d := download.RetryAfterOf(err); d > 0 {
			err = recovery.WithRetryAfter(d, err)
		}
		return err
	}
	o.recordDownload(rel, res, op, "")
	pg.done(res.Size)
	return nil
}

// recordDownload puts what the download learnt (hash, source, validators) into the index.
func (o *downloadOp) recordDownload(rel string, res download.Result, op *recovery.Op, linkedFrom string) {
	fi, err := os.Stat(o.tree.abs(rel))
	if err != nil {
		return
	}
	srcURL := metaString(op, "resolved_url")
	o.ix.record(rel, fi, func(e *Entry) {
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
func (o *downloadOp) onTerminal(_ context.Context, op recovery.Operation) {
	paused, _ := op.Metadata["paused"].(bool)
	if op.State == recovery.StateCancelled && !paused || op.State == recovery.StateSuccess {
		os.Remove(o.tree.partPath(op.ID))
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
	pub     Publisher
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
	p.pub.Publish(events.DownloadTopic(p.op.ID()), events.Progress, ev)
	if p.project != "" {
		p.pub.Publish(events.ProjectTopic(p.project), events.Progress, ev)
	}
}
