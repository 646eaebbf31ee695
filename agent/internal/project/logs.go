package project

import (
	"encoding/json"
	"fmt"
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
// a log_entry event. It keeps a per-project count to enforce the retention cap without
// counting on every write.
type logBook struct {
	db  Store
	pub Publisher
	now func() time.Time
	max int

	mu     sync.Mutex
	seq    uint64
	counts map[string]int
	// recent holds the last entries per project for the hub's subscribe snapshot.
	recent map[string][]LogEntry
}

const recentLogs = 50

func newLogBook(db Store, pub Publisher, now func() time.Time, max int) *logBook {
	return &logBook{db: db, pub: pub, now: now, max: max, counts: map[string]int{}, recent: map[string][]LogEntry{}}
}

func logPrefix(projectID string) string { return projectID + "/" }

// Add records one entry. Store errors are swallowed after publishing: a log line must never
// fail the work it describes.
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
	key := fmt.Sprintf("%s%019d-%09d", logPrefix(projectID), t.UnixNano(), b.seq%1_000_000_000)
	n, known := b.counts[projectID]
	if !known {
		c, err := b.db.Count(store.BucketLogs, logPrefix(projectID))
		if err == nil {
			n = c
		}
	}
	n++
	b.counts[projectID] = n
	r := append(b.recent[projectID], e)
	if len(r) > recentLogs {
		r = r[len(r)-recentLogs:]
	}
	b.recent[projectID] = r
	trim := n > b.max+b.max/10
	b.mu.Unlock()

	_ = b.db.Put(store.BucketLogs, key, e)
	if trim {
		b.trim(projectID)
	}
	if b.pub != nil {
		b.pub.Publish(events.LogsTopic(projectID), events.LogEntry, events.ProjectLog{ProjectID: projectID, Log: e})
	}
}

// trim drops the oldest entries beyond the cap.
func (b *logBook) trim(projectID string) {
	n, err := b.db.Count(store.BucketLogs, logPrefix(projectID))
	if err != nil || n <= b.max {
		return
	}
	drop := n - b.max
	var keys []string
	_ = b.db.ScanPage(store.BucketLogs, logPrefix(projectID), 0, drop, func(key string, _ []byte) error {
		keys = append(keys, key)
		return nil
	})
	for _, k := range keys {
		_ = b.db.Delete(store.BucketLogs, k)
	}
	b.mu.Lock()
	b.counts[projectID] = n - len(keys)
	b.mu.Unlock()
}

// Recent returns the last entries of a project, oldest first.
func (b *logBook) Recent(projectID string) []LogEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]LogEntry(nil), b.recent[projectID]...)
}

// Forget deletes a project's logs.
func (b *logBook) Forget(projectID string) {
	_, _ = b.db.DeletePrefix(store.BucketLogs, logPrefix(projectID))
	b.mu.Lock()
	delete(b.counts, projectID)
	delete(b.recent, projectID)
	b.mu.Unlock()
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
