package project

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/hub"
	"github.com/comfylauncher/launcher/agent/internal/store"
)

// delayMeter records, for each live log_entry, how long after the line was added it was
// handed to the hub.
type delayMeter struct {
	mu     sync.Mutex
	added  map[string]time.Time
	delays []time.Duration
}

func (d *delayMeter) Publish(_, event string, data any) {
	if event != "log_entry" {
		return
	}
	now := time.Now()
	e := data.(map[string]any)["log"].(LogEntry)
	d.mu.Lock()
	if t, ok := d.added[e.Message]; ok {
		d.delays = append(d.delays, now.Sub(t))
	}
	d.mu.Unlock()
}

func (d *delayMeter) percentile(p float64) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.delays) == 0 {
		return 0
	}
	sort.Slice(d.delays, func(i, j int) bool { return d.delays[i] < d.delays[j] })
	return d.delays[int(float64(len(d.delays)-1)*p)]
}

// BenchmarkLogIngest measures ComfyUI output lines per second into a real store, until every
// line is stored; what adding a line costs the reader of ComfyUI's output; and the delay from a
// line to its live event (for the lines within the live budget):
//
//	go test -run '^$' -bench BenchmarkLogIngest -benchtime 50000x ./agent/internal/project/
//
// put_per_line is the former way (one transaction per line), for comparison.
func BenchmarkLogIngest(b *testing.B) {
	b.Run("group_commit", func(b *testing.B) {
		db := openStore(b, filepath.Join(b.TempDir(), "db"))
		defer db.Close()
		meter := &delayMeter{added: make(map[string]time.Time, b.N)}
		msgs := make([]string, b.N)
		for i := range msgs {
			msgs[i] = fmt.Sprintf("got prompt %d: 100%%|##########| 20/20 [00:01<00:00, 14.2it/s]", i)
		}
		book := newLogBook(db, meter, time.Now, 1<<30, slog.New(slog.DiscardHandler))
		b.ResetTimer()
		start := time.Now()
		for _, m := range msgs {
			t := time.Now()
			meter.mu.Lock()
			meter.added[m] = t
			meter.mu.Unlock()
			book.AddAt("bench", t, LevelInfo, m, nil)
		}
		added := time.Since(start)
		if err := book.Close(); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/el.Seconds(), "lines/s")
		b.ReportMetric(float64(added.Nanoseconds())/float64(b.N), "add_ns/line")
		b.ReportMetric(float64(meter.percentile(0.5).Microseconds()), "p50_live_µs")
		b.ReportMetric(float64(meter.percentile(0.99).Microseconds()), "p99_live_µs")
		meter.mu.Lock()
		b.ReportMetric(100*float64(len(meter.delays))/float64(b.N), "%_live")
		meter.mu.Unlock()
		if n, err := db.Count(store.BucketLogs, logPrefix("bench")); err != nil || n < b.N {
			b.Fatalf("stored %d of %d lines (%v)", n, b.N, err)
		}
	})
	b.Run("put_per_line", func(b *testing.B) {
		db := openStore(b, filepath.Join(b.TempDir(), "db"))
		defer db.Close()
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			e := LogEntry{Timestamp: time.Now().UTC().Format(time.RFC3339Nano), Level: LevelInfo, Message: fmt.Sprintf("got prompt %d", i)}
			if err := db.Put(store.BucketLogs, logKey("bench", time.Now(), uint64(i)), e); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "lines/s")
	})
}

// BenchmarkLogLiveOverWebSocket floods one project's log through the real hub to a WebSocket
// subscriber and reports the delay from adding a line to the client reading it, and how many
// events the client got for the lines (the live budget coalesces the rest into notices):
//
//	go test -run '^$' -bench BenchmarkLogLiveOverWebSocket -benchtime 50000x ./agent/internal/project/
func BenchmarkLogLiveOverWebSocket(b *testing.B) {
	hb := hub.New(slog.New(slog.DiscardHandler), hub.Options{})
	rt := httprouter.New()
	hb.Routes(rt)
	srv := httptest.NewServer(rt)
	defer srv.Close()
	defer hb.Close()
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	defer conn.Close()
	type msg struct {
		Event string `json:"event"`
		Data  struct {
			Log LogEntry `json:"log"`
		} `json:"data"`
	}
	read := func() msg {
		var m msg
		if err := conn.ReadJSON(&m); err != nil {
			b.Fatal(err)
		}
		return m
	}
	read() // connected
	if err := conn.WriteJSON(map[string]any{"event": "subscribe_logs", "data": map[string]any{"project_id": "bench"}}); err != nil {
		b.Fatal(err)
	}
	read() // subscribed

	db := openStore(b, filepath.Join(b.TempDir(), "db"))
	defer db.Close()
	book := newLogBook(db, hb, time.Now, 1<<30, slog.New(slog.DiscardHandler))
	var delays []time.Duration
	events := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m := read()
			if m.Event != "log_entry" {
				continue
			}
			if m.Data.Log.Message == "END" {
				return
			}
			events++
			if t, err := time.Parse(time.RFC3339Nano, m.Data.Log.Timestamp); err == nil && m.Data.Log.Data == nil {
				delays = append(delays, time.Since(t))
			}
		}
	}()
	b.ResetTimer()
	for i := range b.N {
		book.AddAt("bench", time.Now(), LevelInfo, fmt.Sprintf("line %d", i), nil)
	}
	if err := book.Close(); err != nil {
		b.Fatal(err)
	}
	book.publish("bench", LogEntry{Message: "END"})
	<-done
	b.StopTimer()
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	if len(delays) > 0 {
		b.ReportMetric(float64(delays[len(delays)/2].Microseconds()), "p50_ws_µs")
		b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds()), "p99_ws_µs")
	}
	b.ReportMetric(float64(events), "events")
}
