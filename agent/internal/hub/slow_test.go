package hub

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A /ws client that never reads and a polling session that never polls must not hold up
// publishing: the healthy client gets every event, the slow ones are disconnected.
func TestSlowClientsDoNotStallPublishing(t *testing.T) {
	h, srv := newTestServer(t, Options{QueueSize: 16, PingInterval: time.Minute})
	healthy := connectWS(t, srv)

	// Never reads after the connected event (which proves it is registered).
	slowWS, resp, err := websocket.DefaultDialer.Dial(wsURL(srv, "/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer slowWS.Close()
	expectWS(t, slowWS, EventConnected)

	// Connects, then never polls again.
	_, pollURL := pollingSession(t, srv, "")
	postOK(t, pollURL, "40")

	pad := strings.Repeat("x", 64<<10)
	const maxEvents, tail = 5000, 50
	published, overflowAt := 0, -1
	for published < maxEvents && (overflowAt < 0 || published < overflowAt+tail) {
		h.Publish(TopicGlobal, "log_entry", map[string]any{"n": published, "pad": pad})
		ev := expectWS(t, healthy, "log_entry")
		if ev.Data["n"] != float64(published) {
			t.Fatalf("healthy client got event %v, want %d", ev.Data["n"], published)
		}
		published++
		if overflowAt < 0 && h.Stats().Overflows == 2 {
			overflowAt = published
		}
	}
	t.Logf("published %d events, slow clients overflowed at %d", published, overflowAt)
	if overflowAt < 0 {
		t.Fatalf("published %d events; slow clients were never disconnected (overflows %d)",
			published, h.Stats().Overflows)
	}

	// The slow websocket finds its connection closed after what it had buffered.
	received := 0
	for {
		_ = slowWS.SetReadDeadline(time.Now().Add(safety))
		if _, _, err := slowWS.ReadMessage(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("slow /ws client still connected")
			}
			break
		}
		received++
	}
	if received >= published {
		t.Fatalf("slow /ws client received %d of %d events, want fewer", received, published)
	}
	// The slow polling session is gone: a poll gets the close packet or an unknown sid.
	if r := eioDo(t, http.MethodGet, pollURL, ""); r.body != "1" && eioCode(t, r) != eioErrUnknownSID {
		t.Fatalf("slow polling session still alive: %d %q", r.status, r.body)
	}
}
