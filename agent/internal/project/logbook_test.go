package project

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/store"
)

// countingStore counts the write transactions that reach a real store.
type countingStore struct {
	*store.DB
	txs atomic.Int64
}

func (s *countingStore) Put(bucket, key string, v any) error {
	s.txs.Add(1)
	return s.DB.Put(bucket, key, v)
}

func (s *countingStore) PutAll(bucket string, records map[string]any) error {
	s.txs.Add(1)
	return s.DB.PutAll(bucket, records)
}

// logRecorder keeps the log_entry payloads published.
type logRecorder struct {
	mu   sync.Mutex
	logs []LogEntry
}

func (r *logRecorder) Publish(_, event string, data any) {
	if event != "log_entry" {
		return
	}
	e := data.(map[string]any)["log"].(LogEntry)
	r.mu.Lock()
	r.logs = append(r.logs, e)
	r.mu.Unlock()
}

func (r *logRecorder) take() []LogEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.logs
	r.logs = nil
	return out
}

// stepClock is a clock that moves only when told.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestLogBook(t *testing.T, max int) (*logBook, *countingStore, *logRecorder, *stepClock) {
	t.Helper()
	db := &countingStore{DB: openStore(t, filepath.Join(t.TempDir(), "db"))}
	t.Cleanup(func() { db.DB.Close() })
	pub := &logRecorder{}
	clk := &stepClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := newLogBook(db, pub, clk.now, max, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { b.Close() })
	return b, db, pub, clk
}

// TestLogLinesAreGroupCommitted: lines are stored in batches of one transaction each, in
// order, and a page shows every line added before it was asked for.
func TestLogLinesAreGroupCommitted(t *testing.T) {
	t.Parallel()
	b, db, _, _ := newTestLogBook(t, 100_000)
	b.mu.Lock()
	b.closed = true // no background writes: the test flushes
	b.mu.Unlock()
	const n = 2000
	for i := range n {
		b.Add("p", LevelInfo, fmt.Sprintf("line %04d", i), nil)
	}
	before := db.txs.Load()
	entries, pag, err := b.Page("p", 2, 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	txs := db.txs.Load() - before
	if want := int64((n + b.cfg.BatchLines - 1) / b.cfg.BatchLines); txs != want {
		t.Fatalf("%d lines took %d transactions, want %d", n, txs, want)
	}
	if pag.Total != n || len(entries) != 1000 || entries[0].Message != "line 1000" || entries[999].Message != "line 1999" {
		t.Fatalf("page 2: %d entries from %q, pagination %+v", len(entries), entries[0].Message, pag)
	}
}

// TestLogRetentionWithBatches: the per-project cap still holds when lines arrive in batches.
func TestLogRetentionWithBatches(t *testing.T) {
	t.Parallel()
	b, _, _, _ := newTestLogBook(t, 100)
	for i := range 1000 {
		b.Add("p", LevelInfo, fmt.Sprintf("line %04d", i), nil)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	entries, pag, err := b.Page("p", 1, 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	if pag.Total > 110 || pag.Total < 100 || entries[len(entries)-1].Message != "line 0999" {
		t.Fatalf("kept %d lines, last %q", pag.Total, entries[len(entries)-1].Message)
	}
}

// TestLiveLogEventsAreCoalesced: beyond the live budget of a window, lines are not published
// one by one; the next window starts with one notice that counts them. All are stored.
func TestLiveLogEventsAreCoalesced(t *testing.T) {
	t.Parallel()
	b, _, pub, clk := newTestLogBook(t, 100_000)
	const n = 1000
	for i := range n {
		b.Add("p", LevelInfo, fmt.Sprintf("line %d", i), nil)
	}
	if got := len(pub.take()); got != b.cfg.LivePerWindow {
		t.Fatalf("published %d of %d lines in one window, want %d", got, n, b.cfg.LivePerWindow)
	}
	clk.advance(b.cfg.LiveWindow)
	b.Add("p", LevelInfo, "after the flood", nil)
	got := pub.take()
	skipped := n - b.cfg.LivePerWindow
	if len(got) < 2 || got[0].Data["skipped"] != skipped || !strings.Contains(got[0].Message, "not sent live") ||
		got[len(got)-1].Message != "after the flood" {
		t.Fatalf("next window published %+v", got)
	}
	_, pag, err := b.Page("p", 1, 1, "")
	if err != nil || pag.Total != n+1 {
		t.Fatalf("stored %d lines, want %d (%v)", pag.Total, n+1, err)
	}
}

// TestFullQueueDropsWithACount: a queue at its bound counts further lines instead of
// blocking, and the next write stores a warning with the count.
func TestFullQueueDropsWithACount(t *testing.T) {
	t.Parallel()
	b, _, _, _ := newTestLogBook(t, 100_000)
	b.mu.Lock()
	b.closed = true
	b.cfg.MaxPending = 10
	b.mu.Unlock()
	for i := range 25 {
		b.Add("p", LevelInfo, fmt.Sprintf("line %d", i), nil)
	}
	entries, pag, err := b.Page("p", 1, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	last := entries[len(entries)-1]
	if pag.Total != 11 || entries[0].Message != "line 0" || last.Data["dropped"] != float64(15) || last.Level != LevelWarning {
		t.Fatalf("stored %d lines, last %+v", pag.Total, last)
	}
}

// TestForgetDropsQueuedLines: a deleted project's queued lines are not written afterwards.
func TestForgetDropsQueuedLines(t *testing.T) {
	t.Parallel()
	b, _, _, _ := newTestLogBook(t, 100_000)
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.Add("gone", LevelInfo, "queued", nil)
	b.Add("kept", LevelInfo, "queued", nil)
	if err := b.Forget("gone"); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]int{"gone": 0, "kept": 1} {
		if _, pag, _ := b.Page(id, 1, 10, ""); pag.Total != want {
			t.Fatalf("%s has %d lines, want %d", id, pag.Total, want)
		}
	}
}
