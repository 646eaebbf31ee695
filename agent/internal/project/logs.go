package project

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/events"
	"github.com/comfylauncher/launcher/agent/internal/store"
)

// Log levels of the API.
const (
	LevelInfo    = "info"
	LevelWarning = "warning"
	LevelError   = "error"
)

// logBook stores project log entries in the "logs" bucket under <project>/<ts>-<seq> keys
// (zero-padded, so key order is time order and a page is a prefix scan) and publishes each as
// a log_entry event.
//
// A chatty ComfyUI writes tens of thousands of lines a second, so adding a line never touches
// the store: lines queue in memory and are written in batches, one transaction each (group
// commit), when a batch is full or after a short interval. Flush writes everything queued so
// far; the queue is bounded, and lines beyond it are counted and reported by a stored
// warning instead of blocking the reader of the output. Live events are sent at once, up to a
// budget per project and window; beyond it they are counted and replaced by one notice.
type logBook struct {
	db  Store
	pub Publisher
	now func() time.Time
	max int
	log *slog.Logger
	cfg logTuning

	// writeMu serialises batch writes, trims and Forget, so batches land in order and a
	// forgotten project gets no late lines. counts is guarded by it.
	writeMu sync.Mutex
	counts  map[string]int

	mu      sync.Mutex
	seq     uint64
	pending []pendingLine
	bytes   int
	// lost counts lines per project that did not fit in the queue.
	lost map[string]int
	// timer is armed while queued lines wait for the interval; writing is set while a
	// full batch is written in the background.
	timer   *time.Timer
	writing bool
	closed  bool
	// recent holds the last entries per project for the hub's subscribe snapshot.
	recent map[string][]LogEntry
	live   map[string]*liveWindow
	// failing is the last failed write (nil once one succeeds); failedLines counts the lines
	// such failures lost.
	failing     error
	failedLines int
}

// logTuning sizes the batches and the live budget.
type logTuning struct {
	// BatchLines and BatchBytes bound one transaction (nutsdb refuses very large ones).
	BatchLines, BatchBytes int
	// Interval is how long a queued line waits at most before it is written.
	Interval time.Duration
	// MaxPending lines are queued at most; more are counted as lost.
	MaxPending int
	// LivePerWindow log_entry events per project are published per LiveWindow.
	LivePerWindow int
	LiveWindow    time.Duration
}

var defaultLogTuning = logTuning{
	BatchLines: 512, BatchBytes: 256 << 10, Interval: 25 * time.Millisecond, MaxPending: 100_000,
	LivePerWindow: 100, LiveWindow: 100 * time.Millisecond,
}

type pendingLine struct {
	project, key string
	seq          uint64
	entry        LogEntry
}

// liveWindow is one project's live-event budget.
type liveWindow struct {
	start   time.Time
	sent    int
	skipped int
	// noticeDue is set while a timer will send the skipped-lines notice.
	noticeDue bool
}

const recentLogs = 50

func newLogBook(db Store, pub Publisher, now func() time.Time, max int, log *slog.Logger) *logBook {
	return &logBook{db: db, pub: pub, now: now, max: max, log: log, cfg: defaultLogTuning,
		counts: map[string]int{}, lost: map[string]int{}, recent: map[string][]LogEntry{}, live: map[string]*liveWindow{}}
}

func logPrefix(projectID string) string { return projectID + "/" }

func logKey(projectID string, t time.Time, seq uint64) string {
	return fmt.Sprintf("%s%019d-%09d", logPrefix(projectID), t.UnixNano(), seq%1_000_000_000)
}

// Add records one entry. It never fails and never waits for the store: a log line must
// not fail or slow down the work it describes. Write errors are logged and reported by
// Health.
func (b *logBook) Add(projectID, level, msg string, data map[string]any) {
	b.AddAt(projectID, b.now(), level, msg, data)
}

// AddAt is Add with the line's own time (ComfyUI output carries it).
func (b *logBook) AddAt(projectID string, t time.Time, level, msg string, data map[string]any) {
	if level == "" {
		level = DetectLevel(msg)
	}
	e := LogEntry{Timestamp: t.UTC().Format(time.RFC3339Nano), Level: level, Message: msg, Data: data}
	b.mu.Lock()
	b.seq++
	if len(b.pending) < b.cfg.MaxPending {
		b.pending = append(b.pending, pendingLine{project: projectID, key: logKey(projectID, t, b.seq), seq: b.seq, entry: e})
		b.bytes += len(msg) + 64
	} else {
		b.lost[projectID]++
	}
	r := append(b.recent[projectID], e)
	if len(r) > recentLogs {
		r = r[len(r)-recentLogs:]
	}
	b.recent[projectID] = r
	publish, skipped := b.admitLiveLocked(projectID)
	b.scheduleLocked()
	b.mu.Unlock()

	if skipped > 0 {
		b.publishSkipped(projectID, skipped)
	}
	if publish {
		b.publish(projectID, e)
	}
}

func (b *logBook) publish(projectID string, e LogEntry) {
	if b.pub != nil {
		b.pub.Publish(events.LogsTopic(projectID), events.LogEntry, events.ProjectLog{ProjectID: projectID, Log: e})
	}
}

// admitLiveLocked spends the project's live budget: publish says whether this line goes out
// live; skipped is the count of a window that just ended, to be announced first.
func (b *logBook) admitLiveLocked(projectID string) (publish bool, skipped int) {
	now := b.now()
	w := b.live[projectID]
	if w == nil {
		w = &liveWindow{start: now}
		b.live[projectID] = w
	}
	if now.Sub(w.start) >= b.cfg.LiveWindow || now.Before(w.start) {
		skipped = w.skipped
		w.start, w.sent, w.skipped = now, 0, 0
	}
	if w.sent < b.cfg.LivePerWindow {
		w.sent++
		return true, skipped
	}
	w.skipped++
	if !w.noticeDue && !b.closed {
		// Announce the skipped lines even if the flood ends and no next window starts.
		w.noticeDue = true
		time.AfterFunc(b.cfg.LiveWindow, func() { b.liveNotice(projectID) })
	}
	return false, skipped
}

// liveNotice publishes the skipped count of projectID's window once it is over.
func (b *logBook) liveNotice(projectID string) {
	b.mu.Lock()
	w := b.live[projectID]
	n := 0
	if w != nil {
		w.noticeDue = false
		if b.now().Sub(w.start) >= b.cfg.LiveWindow {
			n = w.skipped
			w.skipped = 0
		}
	}
	b.mu.Unlock()
	if n > 0 {
		b.publishSkipped(projectID, n)
	}
}

func (b *logBook) publishSkipped(projectID string, n int) {
	b.publish(projectID, LogEntry{
		Timestamp: b.now().UTC().Format(time.RFC3339Nano), Level: LevelWarning,
		Message: fmt.Sprintf("%d log lines were not sent live (more than %d per %s); GET /api/logs/%s has them all",
			n, b.cfg.LivePerWindow, b.cfg.LiveWindow, projectID),
		Data: map[string]any{"skipped": n},
	})
}

// scheduleLocked makes sure queued lines get written: a full batch now, in the background,
// the rest after the interval.
func (b *logBook) scheduleLocked() {
	if b.closed || len(b.pending) == 0 {
		return
	}
	if (len(b.pending) >= b.cfg.BatchLines || b.bytes >= b.cfg.BatchBytes) && !b.writing {
		b.writing = true
		go func() {
			b.Flush() // errors are logged and reported by Health
			b.mu.Lock()
			b.writing = false
			b.scheduleLocked()
			b.mu.Unlock()
		}()
	}
	if b.timer == nil {
		b.timer = time.AfterFunc(b.cfg.Interval, func() {
			b.mu.Lock()
			b.timer = nil
			b.mu.Unlock()
			b.Flush() // errors are logged and reported by Health
			b.mu.Lock()
			b.scheduleLocked()
			b.mu.Unlock()
		})
	}
}

// Flush writes every line queued before the call, in batches of one transaction each, and
// returns the first write error. Lines queued meanwhile are left to the next write, so a
// flood cannot keep Flush busy.
func (b *logBook) Flush() error {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	b.mu.Lock()
	upTo := b.seq
	b.mu.Unlock()
	var first error
	for {
		batch := b.takeBatch(upTo)
		if len(batch) == 0 {
			return first
		}
		if err := b.writeBatch(batch); err != nil && first == nil {
			first = err
		}
	}
}

// takeBatch dequeues up to one batch of lines with seq <= upTo, with a warning for lines the
// full queue lost.
func (b *logBook) takeBatch(upTo uint64) []pendingLine {
	b.mu.Lock()
	defer b.mu.Unlock()
	var batch []pendingLine
	for project, n := range b.lost {
		b.seq++
		now := b.now()
		batch = append(batch, pendingLine{project: project, key: logKey(project, now, b.seq), seq: b.seq, entry: LogEntry{
			Timestamp: now.UTC().Format(time.RFC3339Nano), Level: LevelWarning,
			Message: fmt.Sprintf("%d log lines were dropped: they came faster than the store could write them", n),
			Data:    map[string]any{"dropped": n},
		}})
		delete(b.lost, project)
	}
	size := 0
	i := 0
	for ; i < len(b.pending) && len(batch) < b.cfg.BatchLines && size < b.cfg.BatchBytes; i++ {
		l := b.pending[i]
		if l.seq > upTo {
			break
		}
		size += len(l.entry.Message) + 64
		batch = append(batch, l)
	}
	b.pending = b.pending[i:]
	b.bytes = max(b.bytes-size, 0)
	if len(b.pending) == 0 {
		b.pending, b.bytes = nil, 0 // let the backing array go after a flood
	}
	return batch
}

// writeBatch stores lines in one transaction and trims projects over the retention cap.
// Callers hold writeMu. A failed batch is dropped (the error is logged once per failure
// streak and kept for Health); retrying it would grow without bound while the store is down.
func (b *logBook) writeBatch(lines []pendingLine) error {
	recs := make(map[string]any, len(lines))
	added := map[string]int{}
	for _, l := range lines {
		recs[l.key] = l.entry
		added[l.project]++
	}
	if err := b.db.PutAll(store.BucketLogs, recs); err != nil {
		err = fmt.Errorf("store %d log lines: %w", len(lines), err)
		b.noteWrite(err, len(lines))
		return err
	}
	b.noteWrite(nil, 0)
	for project, n := range added {
		c, known := b.counts[project]
		if !known {
			stored, err := b.db.Count(store.BucketLogs, logPrefix(project))
			if err != nil {
				b.noteWrite(fmt.Errorf("count log lines of %s: %w", project, err), 0)
				continue
			}
			b.counts[project] = stored
			c = stored - n
		}
		b.counts[project] = c + n
		if c+n > b.max+b.max/10 {
			if err := b.trim(project); err != nil {
				b.noteWrite(err, 0)
			}
		}
	}
	return nil
}

// noteWrite records the outcome of a write: the first failure of a streak is logged, and
// so is the recovery.
func (b *logBook) noteWrite(err error, lostLines int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case err != nil && b.failing == nil:
		b.log.Error("project logs are not being stored", "err", err)
		b.failing = err
		b.failedLines += lostLines
	case err != nil:
		b.failing = err
		b.failedLines += lostLines
	case b.failing != nil:
		b.log.Info("project logs are stored again", "lost_lines", b.failedLines)
		b.failing = nil
	}
}

// Health reports whether log lines reach the store, with the queue and what failures lost.
func (b *logBook) Health() (bool, map[string]any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := map[string]any{"queued": len(b.pending), "lost_lines": b.failedLines}
	if b.failing != nil {
		d["error"] = b.failing.Error()
	}
	return b.failing == nil, d
}

// trim drops the oldest entries beyond the cap. Callers hold writeMu.
func (b *logBook) trim(projectID string) error {
	n, err := b.db.Count(store.BucketLogs, logPrefix(projectID))
	if err != nil {
		return fmt.Errorf("trim logs of %s: %w", projectID, err)
	}
	if n <= b.max {
		b.counts[projectID] = n
		return nil
	}
	var keys []string
	err = b.db.ScanPage(store.BucketLogs, logPrefix(projectID), 0, n-b.max, func(key string, _ []byte) error {
		keys = append(keys, key)
		return nil
	})
	if err != nil {
		return fmt.Errorf("trim logs of %s: %w", projectID, err)
	}
	deleted := 0
	for _, k := range keys {
		if err := b.db.Delete(store.BucketLogs, k); err != nil {
			b.counts[projectID] = n - deleted
			return fmt.Errorf("trim logs of %s: %w", projectID, err)
		}
		deleted++
	}
	b.counts[projectID] = n - deleted
	return nil
}

// Close writes what is queued and stops the timers; lines added afterwards are written by
// the next explicit Flush (or Page).
func (b *logBook) Close() error {
	b.mu.Lock()
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.mu.Unlock()
	return b.Flush()
}

// Recent returns the last entries of a project, oldest first.
func (b *logBook) Recent(projectID string) []LogEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]LogEntry(nil), b.recent[projectID]...)
}

// Forget deletes a project's logs, queued ones included.
func (b *logBook) Forget(projectID string) error {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	b.mu.Lock()
	kept := b.pending[:0]
	for _, l := range b.pending {
		if l.project != projectID {
			kept = append(kept, l)
		}
	}
	b.pending = kept
	delete(b.lost, projectID)
	delete(b.recent, projectID)
	delete(b.live, projectID)
	b.mu.Unlock()
	delete(b.counts, projectID)
	if _, err := b.db.DeletePrefix(store.BucketLogs, logPrefix(projectID)); err != nil {
		return fmt.Errorf("delete logs of %s: %w", projectID, err)
	}
	return nil
}

// Pagination is the pagination object of GET /api/logs.
type Pagination struct {
	Page    int `json:"page"`
	PerPage int `json:"per_page"`
	Total   int `json:"total"`
	Pages   int `json:"pages"`
}

// Page returns entries oldest first. Without a level filter it is an offset scan; with one,
// every entry is read once to count and select the matching ones.
func (b *logBook) Page(projectID string, page, perPage int, level string) ([]LogEntry, Pagination, error) {
	// Lines queued a moment ago belong on the page. A failed write is logged and in Health;
	// the page then shows what is stored.
	_ = b.Flush()
	out := []LogEntry{}
	var total int
	if level == "" {
		n, err := b.db.Count(store.BucketLogs, logPrefix(projectID))
		if err != nil {
			return nil, Pagination{}, err
		}
		total = n
		err = b.db.ScanPage(store.BucketLogs, logPrefix(projectID), (page-1)*perPage, perPage, func(_ string, raw []byte) error {
			var e LogEntry
			if json.Unmarshal(raw, &e) == nil {
				out = append(out, e)
			}
			return nil
		})
		if err != nil {
			return nil, Pagination{}, err
		}
	} else {
		skip := (page - 1) * perPage
		err := b.db.Scan(store.BucketLogs, logPrefix(projectID), func(_ string, raw []byte) error {
			var e LogEntry
			if json.Unmarshal(raw, &e) != nil || e.Level != level {
				return nil
			}
			if total >= skip && len(out) < perPage {
				out = append(out, e)
			}
			total++
			return nil
		})
		if err != nil {
			return nil, Pagination{}, err
		}
	}
	pages := (total + perPage - 1) / perPage
	return out, Pagination{Page: page, PerPage: perPage, Total: total, Pages: pages}, nil
}

// DetectLevel classifies a line of subprocess output: Python tracebacks, pip and git errors
// are errors; warnings and deprecations are warnings; everything else is info.
func DetectLevel(line string) string {
	l := strings.ToLower(line)
	switch {
	case strings.HasPrefix(l, "error") || strings.HasPrefix(l, "fatal:") || strings.HasPrefix(l, "traceback") ||
		strings.Contains(l, " error:") || strings.Contains(l, "exception:") || strings.Contains(l, "[error]") ||
		strings.Contains(l, "import failed") || strings.HasPrefix(l, "critical"):
		return LevelError
	case strings.HasPrefix(l, "warning") || strings.HasPrefix(l, "warn") || strings.Contains(l, "[warning]") ||
		strings.Contains(l, " warning:") || strings.HasPrefix(l, "deprecation"):
		return LevelWarning
	}
	return LevelInfo
}

// flush writes the queued lines before a state change that readers take as "done" (ready,
// running), so whoever sees the state also finds every line logged before it. A failed write
// is already logged and reported by Health; the state change goes on.
func (b *logBook) flush() {
	_ = b.Flush()
}
