package project

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/store"
)

// LogRetention bounds what project logs may keep on disk so that a node running for months
// does not fill it. A zero field turns its limit off.
type LogRetention struct {
	// RunLogMaxAge deletes ComfyUI run logs last written before now minus this.
	RunLogMaxAge time.Duration
	// RunLogMaxBytes caps one project's run logs, deleting the oldest first.
	RunLogMaxBytes int64
	// EntriesMaxAge deletes entries of the logs bucket older than this.
	EntriesMaxAge time.Duration
	// EntriesMaxBytes caps the logs bucket across projects, deleting the oldest entries first.
	EntriesMaxBytes int64
}

// PruneReport says what one prune pass removed.
type PruneReport struct {
	RunLogsDeleted int   `json:"run_logs_deleted"`
	RunLogBytes    int64 `json:"run_log_bytes"`
	EntriesDeleted int   `json:"entries_deleted"`
	EntryBytes     int64 `json:"entry_bytes"`
}

// logPruner deletes old and excess project logs: ComfyUI run logs on disk and entries of
// the logs bucket.
type logPruner struct {
	db     Store
	recs   *records
	logs   *logBook
	layout layout
}

// prune applies r at time now: old and excess ComfyUI run logs of every project (never
// the log the current process writes, nor a project's newest one), then old and excess
// entries of the logs bucket. Errors of single files are joined; the pass goes on.
func (lp logPruner) prune(now time.Time, r LogRetention) (PruneReport, error) {
	var rep PruneReport
	var errs []error
	for _, p := range lp.recs.list() {
		current := ""
		if p.Process != nil {
			current = p.Process.LogPath
		}
		if err := pruneRunLogs(filepath.Join(lp.layout.dir(p.ID), "logs"), current, now, r, &rep); err != nil {
			errs = append(errs, fmt.Errorf("prune run logs of %s: %w", p.ID, err))
		}
	}
	if err := lp.entries(now, r, &rep); err != nil {
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
}

type runLog struct {
	path string
	size int64
	mod  time.Time
}

// pruneRunLogs deletes run-*.log files of dir older than the age limit, then the oldest until
// the rest fits the size limit. keep (the current run's log) and the newest file survive.
func pruneRunLogs(dir, keep string, now time.Time, r LogRetention, rep *PruneReport) error {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var logs []runLog
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() || !strings.HasPrefix(name, "run-") || !strings.HasSuffix(name, ".log") {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		logs = append(logs, runLog{filepath.Join(dir, name), fi.Size(), fi.ModTime()})
	}
	// Newest first; names carry the start time, so they break ties of equal mtimes.
	sort.Slice(logs, func(i, j int) bool {
		if !logs[i].mod.Equal(logs[j].mod) {
			return logs[i].mod.After(logs[j].mod)
		}
		return logs[i].path > logs[j].path
	})
	var errs []error
	var total int64
	for i, l := range logs {
		protected := i == 0 || l.path == keep
		tooOld := r.RunLogMaxAge > 0 && now.Sub(l.mod) > r.RunLogMaxAge
		tooMuch := r.RunLogMaxBytes > 0 && total+l.size > r.RunLogMaxBytes
		if protected || (!tooOld && !tooMuch) {
			total += l.size
			continue
		}
		if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		rep.RunLogsDeleted++
		rep.RunLogBytes += l.size
	}
	return errors.Join(errs...)
}

type entryKey struct {
	key  string
	at   int64 // unix nanoseconds from the key
	size int64
}

// entries deletes logs-bucket entries older than the age limit, then the oldest across
// projects until the rest fits the size limit. Keys are <project>/<unix ns>-<seq>.
func (lp logPruner) entries(now time.Time, r LogRetention, rep *PruneReport) error {
	if r.EntriesMaxAge <= 0 && r.EntriesMaxBytes <= 0 {
		return nil
	}
	// Queued lines count too: write them first. A failed write is logged and in health.
	_ = lp.logs.Flush()
	var entries []entryKey
	var total int64
	err := lp.db.Scan(store.BucketLogs, "", func(key string, raw []byte) error {
		e := entryKey{key: key, at: entryTime(key), size: int64(len(key) + len(raw))}
		entries = append(entries, e)
		total += e.size
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan logs bucket: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].at < entries[j].at })
	cutoff := now.Add(-r.EntriesMaxAge).UnixNano()
	var errs []error
	pruned := map[string]bool{}
	defer func() { lp.logs.recount(pruned) }()
	for _, e := range entries {
		tooOld := r.EntriesMaxAge > 0 && e.at < cutoff
		tooMuch := r.EntriesMaxBytes > 0 && total > r.EntriesMaxBytes
		if !tooOld && !tooMuch {
			break // sorted oldest first: the rest is newer and fits
		}
		if err := lp.db.Delete(store.BucketLogs, e.key); err != nil {
			errs = append(errs, err)
			continue
		}
		total -= e.size
		if i := strings.LastIndexByte(e.key, '/'); i >= 0 {
			pruned[e.key[:i]] = true
		}
		rep.EntriesDeleted++
		rep.EntryBytes += e.size
	}
	return errors.Join(errs...)
}

// entryTime reads the timestamp of a logs-bucket key; 0 (oldest) for a key of another shape.
func entryTime(key string) int64 {
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return 0
	}
	ts, _, _ := strings.Cut(key[i+1:], "-")
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// recount makes the log book count the entries of these projects again at their next line:
// its running counts decide when to trim, and pruning just removed entries behind its back.
func (b *logBook) recount(projects map[string]bool) {
	b.writeMu.Lock() // guards counts
	defer b.writeMu.Unlock()
	for id := range projects {
		delete(b.counts, id)
	}
}
