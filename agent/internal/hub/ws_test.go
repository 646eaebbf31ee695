package hub

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"
)

// safety bounds a blocking read so that a broken hub fails the test instead of hanging it.
const safety = 10 * time.Second

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestServer serves a hub on an ephemeral loopback port.
func newTestServer(t *testing.T, opts Options) (*Hub, *httptest.Server) {
	t.Helper()
	h := New(testLogger(), opts)
	srv := httptest.NewServer(testMux(h))
	t.Cleanup(func() { h.Close(); srv.Close() })
	return h, srv
}

// testMux routes like the agent does; the PUT route lets a test reach the hub's own answer to
// methods it does not take.
func testMux(h *Hub) http.Handler {
	r := httprouter.New()
	h.Routes(r)
	r.HandlerFunc(http.MethodPut, "/socket.io/", h.ServeSocketIO)
	return r
}

func wsURL(srv *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + path
}

type wsEvent struct {
	Event string         `json:"event"`
	Data  map[string]any `json:"data"`
}

func dialWS(t *testing.T, srv *httptest.Server) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(wsURL(srv, "/ws"), nil)
	if err != nil {
		t.Fatalf("dial /ws: %v", err)
	}
	resp.Body.Close()
	t.Cleanup(func() { conn.Close() })
	return conn
}

func readWS(t *testing.T, conn *websocket.Conn) wsEvent {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(safety))
	var ev wsEvent
	if err := conn.ReadJSON(&ev); err != nil {
		t.Fatalf("read /ws event: %v", err)
	}
	return ev
}

func sendWS(t *testing.T, conn *websocket.Conn, event string, data any) {
	t.Helper()
	if err := conn.WriteJSON(map[string]any{"event": event, "data": data}); err != nil {
		t.Fatalf("write /ws event: %v", err)
	}
}

// connectWS dials /ws and consumes the connected event.
func connectWS(t *testing.T, srv *httptest.Server) *websocket.Conn {
	t.Helper()
	conn := dialWS(t, srv)
	if ev := readWS(t, conn); ev.Event != EventConnected || ev.Data["sid"] == "" ||
		ev.Data["message"] != "Connected to ComfyUI Launcher" {
		t.Fatalf("first event = %+v, want connected with sid and message", ev)
	}
	return conn
}

func expectWS(t *testing.T, conn *websocket.Conn, event string) wsEvent {
	t.Helper()
	ev := readWS(t, conn)
	if ev.Event != event {
		t.Fatalf("got event %q %v, want %q", ev.Event, ev.Data, event)
	}
	return ev
}

func progress(project string, pct int) map[string]any {
	return map[string]any{"project_id": project, "progress": map[string]any{"stage": "downloading", "progress": pct}}
}

func pct(ev wsEvent) any { return ev.Data["progress"].(map[string]any)["progress"] }

func TestWSSubscribeProject(t *testing.T) {
	snap := func(kind, id string) []Event {
		if kind == KindProject && id == "p1" {
			return []Event{{Name: EventProgress, Data: progress("p1", 10)}}
		}
		return nil
	}
	h, srv := newTestServer(t, Options{Snapshot: snap})
	conn := connectWS(t, srv)

	sendWS(t, conn, "subscribe_project", map[string]any{"project_id": "p1"})
	if ev := expectWS(t, conn, EventSubscribed); ev.Data["type"] != "project" || ev.Data["id"] != "p1" {
		t.Fatalf("subscribed = %v", ev.Data)
	}
	if ev := expectWS(t, conn, EventProgress); pct(ev) != float64(10) {
		t.Fatalf("snapshot progress = %v, want 10", pct(ev))
	}

	h.Publish(ProjectTopic("p2"), EventProgress, progress("p2", 99)) // other project: not delivered
	h.Publish(ProjectTopic("p1"), EventProgress, progress("p1", 42))
	if ev := expectWS(t, conn, EventProgress); pct(ev) != float64(42) || ev.Data["project_id"] != "p1" {
		t.Fatalf("published progress = %v, want p1 at 42", ev.Data)
	}

	sendWS(t, conn, "unsubscribe_project", map[string]any{"project_id": "p1"})
	expectWS(t, conn, EventUnsubscribed)
	h.Publish(ProjectTopic("p1"), EventProgress, progress("p1", 50))
	h.Publish(TopicGlobal, "marker", map[string]any{"n": 1})
	// Events of one client are ordered: had the progress been delivered it would come first.
	expectWS(t, conn, "marker")
}

func TestWSSnapshotComesBeforeChanges(t *testing.T) {
	// The snapshot provider publishes a change while the subscription is being set up: the
	// subscriber must see the snapshot first, then that change.
	var h *Hub
	snap := func(kind, id string) []Event {
		h.Publish(ProjectTopic(id), EventProgress, progress(id, 2))
		return []Event{{Name: EventProgress, Data: progress(id, 1)}}
	}
	h, srv := newTestServer(t, Options{Snapshot: snap})
	conn := connectWS(t, srv)
	sendWS(t, conn, "subscribe_project", map[string]any{"project_id": "p1"})
	expectWS(t, conn, EventSubscribed)
	for _, want := range []float64{1, 2} {
		if ev := expectWS(t, conn, EventProgress); pct(ev) != want {
			t.Fatalf("progress = %v, want %v", pct(ev), want)
		}
	}
}

func TestWSSubscriptionsAndErrors(t *testing.T) {
	snap := func(kind, id string) []Event {
		return []Event{{Name: "snapshot", Data: map[string]any{"kind": kind, "id": id}}}
	}
	tests := []struct {
		name      string
		event     string
		data      any
		wantEvent string
		wantKind  string
		wantID    string
		topic     string // a publish on it must reach the client afterwards
	}{
		{"logs", "subscribe_logs", map[string]any{"project_id": "p1"}, EventSubscribed, "logs", "p1", LogsTopic("p1")},
		{"one operation", "subscribe_recovery", map[string]any{"operation_id": "op-7"}, EventSubscribed, "recovery", "op-7", OpTopic("op-7")},
		{"all operations", "subscribe_recovery", map[string]any{}, EventSubscribed, "recovery", "all", TopicAllOps},
		{"operation all", "subscribe_recovery", map[string]any{"operation_id": "all"}, EventSubscribed, "recovery", "all", TopicBreakers},
		{"recovery without payload", "subscribe_recovery", nil, EventSubscribed, "recovery", "all", TopicAllOps},
		{"project without id", "subscribe_project", map[string]any{}, EventError, "", "", ""},
		{"project id not a string", "subscribe_project", map[string]any{"project_id": 7}, EventError, "", "", ""},
		{"payload not an object", "subscribe_logs", "p1", EventError, "", "", ""},
		{"id too long", "subscribe_logs", map[string]any{"project_id": strings.Repeat("x", maxIDLen+1)}, EventError, "", "", ""},
		{"unknown event", "launch_missiles", map[string]any{}, EventError, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, srv := newTestServer(t, Options{Snapshot: snap})
			conn := connectWS(t, srv)
			sendWS(t, conn, tc.event, tc.data)
			ev := expectWS(t, conn, tc.wantEvent)
			if tc.wantEvent == EventError {
				if msg, _ := ev.Data["message"].(string); msg == "" {
					t.Fatalf("error event without message: %v", ev.Data)
				}
				// Bad input never costs the connection.
				sendWS(t, conn, "ping", map[string]any{"n": 1})
				if ev := expectWS(t, conn, EventPong); ev.Data["n"] != float64(1) {
					t.Fatalf("pong = %v, want the ping's payload", ev.Data)
				}
				return
			}
			if ev.Data["type"] != tc.wantKind || ev.Data["id"] != tc.wantID {
				t.Fatalf("subscribed = %v, want %s/%s", ev.Data, tc.wantKind, tc.wantID)
			}
			if ev := expectWS(t, conn, "snapshot"); ev.Data["kind"] != tc.wantKind || ev.Data["id"] != tc.wantID {
				t.Fatalf("snapshot asked for %v, want %s/%s", ev.Data, tc.wantKind, tc.wantID)
			}
			h.Publish(tc.topic, "recovery_update", map[string]any{"operation_id": "op-7"})
			expectWS(t, conn, "recovery_update")
		})
	}
}

func TestWSMalformedFramesKeepConnection(t *testing.T) {
	_, srv := newTestServer(t, Options{})
	conn := connectWS(t, srv)
	for _, frame := range []string{"not json", `{"data":{}}`, `[1,2]`} {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		expectWS(t, conn, EventError)
	}
	if err := conn.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	expectWS(t, conn, EventError)
	sendWS(t, conn, "ping", nil)
	expectWS(t, conn, EventPong)
}

func TestWSGlobalAndClose(t *testing.T) {
	h, srv := newTestServer(t, Options{})
	a, b := connectWS(t, srv), connectWS(t, srv)
	h.Publish(TopicGlobal, "circuit_breaker_update", map[string]any{"state": "OPEN"})
	for _, c := range []*websocket.Conn{a, b} {
		if ev := expectWS(t, c, "circuit_breaker_update"); ev.Data["state"] != "OPEN" {
			t.Fatalf("global event = %v", ev.Data)
		}
	}
	h.Close()
	_ = a.SetReadDeadline(time.Now().Add(safety))
	if _, _, err := a.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("after Close: read error %v, want close 1001", err)
	}
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL(srv, "/ws"), nil); err == nil {
		t.Fatal("dial after Close succeeded")
	} else if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Close: %v, want 503", err)
	}
	if got := h.Stats().Clients; got != 0 {
		t.Fatalf("clients after Close = %d", got)
	}
}

func TestTokenFromRequest(t *testing.T) {
	tests := []struct {
		name, header, url, want string
	}{
		{"bearer", "Bearer abc", "/ws", "abc"},
		{"bearer case", "bearer  abc ", "/ws", "abc"},
		{"query", "", "/ws?token=q1", "q1"},
		{"header wins", "Bearer h", "/ws?token=q", "h"},
		{"basic ignored", "Basic dXNlcg==", "/ws?token=q", "q"},
		{"none", "", "/ws", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tc.url, nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			if got := TokenFromRequest(r); got != tc.want {
				t.Fatalf("TokenFromRequest = %q, want %q", got, tc.want)
			}
		})
	}
}

// The JSON shape of /ws frames is part of the API; pin it.
func TestEncodeEventShape(t *testing.T) {
	raw, _ := json.Marshal(map[string]any{"a": 1})
	if got := string(encodeEvent(wireWS, "x", raw)); got != `{"event":"x","data":{"a":1}}` {
		t.Fatalf("ws frame = %s", got)
	}
	if got := string(encodeEvent(wireSIO, "x", raw)); got != `42["x",{"a":1}]` {
		t.Fatalf("sio frame = %s", got)
	}
	if got := string(encodeAck(3, map[string]any{"ok": true}).b); got != `433[{"ok":true}]` {
		t.Fatalf("ack frame = %s", got)
	}
}
