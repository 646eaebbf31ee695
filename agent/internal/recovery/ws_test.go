package recovery

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/hub"
	"github.com/comfylauncher/launcher/agent/internal/recovery/clock"
)

type wsMsg struct {
	Event string         `json:"event"`
	Data  map[string]any `json:"data"`
}

func TestEventsOverWebSocketInOrder(t *testing.T) {
	hb := hub.New(slog.New(slog.NewTextHandler(io.Discard, nil)), hub.Options{})
	rt := httprouter.New()
	hb.Routes(rt)
	srv := httptest.NewServer(rt)
	defer srv.Close()
	defer hb.Close()

	var calls atomic.Int32
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	r := New(newMemStore(), hb, Options{Clock: clk, Rand: func() float64 { return 0.5 }})
	r.Register(Definition{Name: "flaky", Steps: []Step{{Name: "s", Run: func(context.Context, *Op) error {
		if calls.Add(1) == 1 {
			return syscall.ECONNRESET
		}
		return nil
	}}}})
	hb.SetSnapshot(r.HubSnapshot)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Stop(context.Background())

	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer conn.Close()
	read := func() wsMsg {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var m wsMsg
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("read: %v", err)
		}
		return m
	}
	read() // connected
	if err := conn.WriteJSON(map[string]any{"event": "subscribe_recovery", "data": map[string]any{"operation_id": "all"}}); err != nil {
		t.Fatal(err)
	}
	if m := read(); m.Event != "subscribed" {
		t.Fatalf("got %+v, want subscribed", m)
	}

	id, err := r.Submit(context.Background(), "flaky", nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	clk.WaitPending(1, stop)
	clk.Advance(time.Minute)

	var got []string
	for {
		m := read()
		if m.Data["operation_id"] != id {
			t.Fatalf("event for another operation: %+v", m)
		}
		if m.Event == EventCompleted {
			if m.Data["success"] != true || m.Data["total_attempts"] != float64(2) {
				t.Fatalf("recovery_completed = %v", m.Data)
			}
			break
		}
		got = append(got, m.Data["state"].(string))
	}
	if want := "pending in_progress recovering in_progress success"; strings.Join(got, " ") != want {
		t.Fatalf("recovery_update states over /ws = %v, want %s", got, want)
	}

	// A late subscriber to the finished operation gets its state as a snapshot.
	if err := conn.WriteJSON(map[string]any{"event": "subscribe_recovery", "data": map[string]any{"operation_id": id}}); err != nil {
		t.Fatal(err)
	}
	read() // subscribed
	if m := read(); m.Event != EventUpdate || m.Data["state"] != "success" {
		t.Fatalf("snapshot = %+v", m)
	}
	if m := read(); m.Event != EventCompleted {
		t.Fatalf("snapshot completion = %+v", m)
	}
}
