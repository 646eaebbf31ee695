package hub

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// eioResp is one raw HTTP exchange with /socket.io/.
type eioResp struct {
	status int
	body   string
}

func eioDo(t *testing.T, method, url, body string) eioResp {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return eioResp{resp.StatusCode, string(b)}
}

func eioCode(t *testing.T, r eioResp) int {
	t.Helper()
	var e struct {
		Code    *int   `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Code == nil || e.Message == "" {
		t.Fatalf("error body %q is not {code, message}", r.body)
	}
	return *e.Code
}

// pollingSession performs the polling handshake and returns the session URL.
func pollingSession(t *testing.T, srv *httptest.Server, query string) (sid, url string) {
	t.Helper()
	r := eioDo(t, http.MethodGet, srv.URL+"/socket.io/?EIO=4&transport=polling&t=abc"+query, "")
	if r.status != http.StatusOK || !strings.HasPrefix(r.body, "0{") {
		t.Fatalf("handshake = %d %q", r.status, r.body)
	}
	var open struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int      `json:"pingInterval"`
		PingTimeout  int      `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	}
	if err := json.Unmarshal([]byte(r.body[1:]), &open); err != nil {
		t.Fatal(err)
	}
	if open.SID == "" || len(open.Upgrades) != 1 || open.Upgrades[0] != "websocket" ||
		open.PingInterval <= 0 || open.PingTimeout <= 0 || open.MaxPayload <= 0 {
		t.Fatalf("open packet %s lacks sid, upgrades, heartbeat or maxPayload", r.body)
	}
	return open.SID, srv.URL + "/socket.io/?EIO=4&transport=polling&sid=" + open.SID
}

func post(t *testing.T, url string, packets ...string) eioResp {
	t.Helper()
	return eioDo(t, http.MethodPost, url, strings.Join(packets, "\x1e"))
}

func postOK(t *testing.T, url string, packets ...string) {
	t.Helper()
	if r := post(t, url, packets...); r.status != http.StatusOK || r.body != "ok" {
		t.Fatalf("POST %q = %d %q, want ok", packets, r.status, r.body)
	}
}

// poll returns the packets of one long-poll GET.
func poll(t *testing.T, url string) []string {
	t.Helper()
	r := eioDo(t, http.MethodGet, url, "")
	if r.status != http.StatusOK {
		t.Fatalf("GET = %d %q", r.status, r.body)
	}
	return strings.Split(r.body, "\x1e")
}

func TestEngineIOErrors(t *testing.T) {
	h, srv := newTestServer(t, Options{})
	_, live := pollingSession(t, srv, "")
	liveSID := strings.TrimPrefix(live[strings.Index(live, "sid="):], "sid=")
	base := srv.URL + "/socket.io/"
	tests := []struct {
		name, method, query  string
		wantStatus, wantCode int
	}{
		{"EIO 3 is unsupported", "GET", "?EIO=3&transport=polling", 400, eioErrUnsupported},
		{"missing EIO", "GET", "?transport=polling", 400, eioErrUnsupported},
		{"EIO 3 over websocket", "GET", "?EIO=3&transport=websocket", 400, eioErrUnsupported},
		{"unknown transport", "GET", "?EIO=4&transport=carrier-pigeon", 400, eioErrUnknownTransport},
		{"missing transport", "GET", "?EIO=4", 400, eioErrUnknownTransport},
		{"webtransport is not offered", "GET", "?EIO=4&transport=webtransport", 400, eioErrUnknownTransport},
		{"unknown sid GET", "GET", "?EIO=4&transport=polling&sid=nope", 400, eioErrUnknownSID},
		{"unknown sid POST", "POST", "?EIO=4&transport=polling&sid=nope", 400, eioErrUnknownSID},
		{"unknown sid websocket", "GET", "?EIO=4&transport=websocket&sid=nope", 400, eioErrUnknownSID},
		{"POST handshake", "POST", "?EIO=4&transport=polling", 400, eioErrBadHandshake},
		{"PUT on a session", "PUT", "?EIO=4&transport=polling&sid=" + liveSID, 400, eioErrBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := eioDo(t, tc.method, base+tc.query, "")
			if r.status != tc.wantStatus {
				t.Fatalf("status = %d %q, want %d", r.status, r.body, tc.wantStatus)
			}
			if got := eioCode(t, r); got != tc.wantCode {
				t.Fatalf("code = %d, want %d", got, tc.wantCode)
			}
		})
	}

	t.Run("duplicate GET", func(t *testing.T) {
		waiting := make(chan string, 4)
		hook := func(sid string) { waiting <- sid }
		h.onPollWait.Store(&hook)
		defer h.onPollWait.Store(nil)
		_, url := pollingSession(t, srv, "")
		first := make(chan eioResp, 1)
		go func() { first <- eioDo(t, http.MethodGet, url, "") }()
		<-waiting // the first GET is parked in the long poll
		r := eioDo(t, http.MethodGet, url, "")
		if r.status != http.StatusBadRequest || eioCode(t, r) != eioErrBadRequest {
			t.Fatalf("second GET = %d %q, want 400 code 3", r.status, r.body)
		}
		if r := <-first; r.status != http.StatusOK || r.body != "1" {
			t.Fatalf("first GET = %d %q, want the close packet", r.status, r.body)
		}
		if r := eioDo(t, http.MethodGet, url, ""); eioCode(t, r) != eioErrUnknownSID {
			t.Fatalf("session survived the protocol violation: %q", r.body)
		}
	})
}

func TestPollingSocketIOSession(t *testing.T) {
	h, srv := newTestServer(t, Options{
		Snapshot: func(kind, id string) []Event {
			return []Event{{Name: EventProgress, Data: progress(id, 5)}}
		},
	})
	_, url := pollingSession(t, srv, "")

	postOK(t, url, "40")
	got := poll(t, url)
	if len(got) != 2 || !strings.HasPrefix(got[0], `40{"sid":"`) || !strings.HasPrefix(got[1], `42["connected",{`) {
		t.Fatalf("after CONNECT got %q, want 40{sid} then connected", got)
	}

	steps := []struct {
		name string
		send []string
		do   func()
		want []string // prefixes of the packets of the next poll
	}{
		{"subscribe with ack, then snapshot", []string{`421["subscribe_project",{"project_id":"p1"}]`}, nil,
			[]string{`431[{"id":"p1","ok":true,"type":"project"}]`, `42["progress_update",{"progress":{"progress":5,`}},
		{"published change", nil, func() { h.Publish(ProjectTopic("p1"), EventProgress, progress("p1", 6)) },
			[]string{`42["progress_update",{"progress":{"progress":6,`}},
		{"two packets in one POST", []string{`42["ping",{"n":1}]`, `422["ping"]`}, nil,
			[]string{`42["pong",{"n":1}]`, `432[{}]`, `42["pong",{}]`}},
		{"unknown event with ack", []string{`427["nope",{}]`}, nil,
			[]string{`437[{"error":"unknown event \"nope\"`, `42["error",{"event":"nope","message":`}},
		{"other namespace", []string{`40/admin,`}, nil,
			[]string{`44/admin,{"message":"Invalid namespace"}`}},
		{"binary attachment refused", []string{`451-["upload",{"_placeholder":true,"num":0}]`}, nil,
			[]string{`42["error",{"event":"","message":"binary attachments are not supported`}},
		{"event on a namespace we are not on is ignored", []string{`42/admin,["ping"]`, `42["ping",{"n":2}]`}, nil,
			[]string{`42["pong",{"n":2}]`}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if len(st.send) > 0 {
				postOK(t, url, st.send...)
			}
			if st.do != nil {
				st.do()
			}
			got := poll(t, url)
			if len(got) != len(st.want) {
				t.Fatalf("poll = %q, want %d packets like %q", got, len(st.want), st.want)
			}
			for i, w := range st.want {
				if !strings.HasPrefix(got[i], w) {
					t.Fatalf("packet %d = %q, want prefix %q", i, got[i], w)
				}
			}
		})
	}

	t.Run("DISCONNECT leaves the session up", func(t *testing.T) {
		postOK(t, url, "41")
		if s := h.Stats(); s.Clients != 0 || s.Sessions != 1 {
			t.Fatalf("after 41: %+v, want 0 clients and 1 session", s)
		}
		h.Publish(TopicGlobal, "after", nil)
		postOK(t, url, "40") // reconnect on the same session
		got := poll(t, url)
		if len(got) != 2 || !strings.HasPrefix(got[0], `40{"sid":"`) {
			t.Fatalf("re-CONNECT got %q", got)
		}
	})

	t.Run("malformed Socket.IO packet closes the session", func(t *testing.T) {
		if r := post(t, url, `4x`); r.status != http.StatusBadRequest {
			t.Fatalf("POST 4x = %d %q, want 400", r.status, r.body)
		}
		if r := eioDo(t, http.MethodGet, url, ""); eioCode(t, r) != eioErrUnknownSID {
			t.Fatalf("session still alive: %q", r.body)
		}
	})
}

func TestPollingLimitsAndTimeouts(t *testing.T) {
	t.Run("POST over maxPayload", func(t *testing.T) {
		_, srv := newTestServer(t, Options{MaxPayload: 64})
		_, url := pollingSession(t, srv, "")
		if r := post(t, url, `42["ping",`+`"`+strings.Repeat("x", 100)+`"]`); r.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("big POST = %d, want 413", r.status)
		}
		if r := eioDo(t, http.MethodGet, url, ""); eioCode(t, r) != eioErrUnknownSID {
			t.Fatalf("session survived: %q", r.body)
		}
	})
	t.Run("heartbeat over polling", func(t *testing.T) {
		_, srv := newTestServer(t, Options{PingInterval: 20 * time.Millisecond, PingTimeout: time.Minute})
		_, url := pollingSession(t, srv, "")
		for range 3 {
			if got := poll(t, url); len(got) != 1 || got[0] != "2" {
				t.Fatalf("poll = %q, want a ping", got)
			}
			postOK(t, url, "3")
		}
	})
	t.Run("missed pong closes the session", func(t *testing.T) {
		// The timeout only has to outlast the test's first poll, not be short: a loaded
		// machine may take a while to get there.
		_, srv := newTestServer(t, Options{PingInterval: 20 * time.Millisecond, PingTimeout: time.Second})
		_, url := pollingSession(t, srv, "")
		if got := poll(t, url); got[0] != "2" {
			t.Fatalf("poll = %q, want a ping", got)
		}
		// No pong: the next poll ends with the close packet, or finds the session gone.
		if r := eioDo(t, http.MethodGet, url, ""); r.body != "1" && eioCode(t, r) != eioErrUnknownSID {
			t.Fatalf("after a missed pong: %d %q", r.status, r.body)
		}
	})
	t.Run("no CONNECT within connect timeout", func(t *testing.T) {
		_, srv := newTestServer(t, Options{ConnectTimeout: 20 * time.Millisecond})
		_, url := pollingSession(t, srv, "")
		if r := eioDo(t, http.MethodGet, url, ""); r.body != "1" && eioCode(t, r) != eioErrUnknownSID {
			t.Fatalf("after connect timeout: %d %q", r.status, r.body)
		}
	})
}

func TestSocketIOAuth(t *testing.T) {
	check := func(tok string) bool { return tok == "right" }
	tests := []struct {
		name, query, connect, want string
	}{
		{"no token", "", "40", `44{"message":"unauthorized"}`},
		{"wrong token in auth", "", `40{"token":"wrong"}`, `44{"message":"unauthorized"}`},
		{"token in auth", "", `40{"token":"right"}`, `40{"sid":`},
		{"token in handshake query", "&token=right", "40", `40{"sid":`},
		{"wrong query, right auth", "&token=wrong", `40{"token":"right"}`, `40{"sid":`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, srv := newTestServer(t, Options{CheckToken: check})
			_, url := pollingSession(t, srv, tc.query)
			postOK(t, url, tc.connect)
			if got := poll(t, url); !strings.HasPrefix(got[0], tc.want) {
				t.Fatalf("CONNECT answer %q, want prefix %q", got, tc.want)
			}
			if wantClients := btoi(strings.HasPrefix(tc.want, "40")); h.Stats().Clients != wantClients {
				t.Fatalf("clients = %d, want %d", h.Stats().Clients, wantClients)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestUpgradeHandshake(t *testing.T) {
	h, srv := newTestServer(t, Options{})
	sid, url := pollingSession(t, srv, "")
	postOK(t, url, "40")
	poll(t, url) // 40{sid}, connected

	waiting := make(chan string, 4)
	hook := func(sid string) { waiting <- sid }
	h.onPollWait.Store(&hook)
	pending := make(chan []string, 1)
	go func() { pending <- poll(t, url) }()
	<-waiting
	h.onPollWait.Store(nil)

	ws, resp, err := websocket.DefaultDialer.Dial(wsURL(srv, "/socket.io/?EIO=4&transport=websocket&sid="+sid), nil)
	if err != nil {
		t.Fatalf("upgrade dial: %v", err)
	}
	resp.Body.Close()
	defer ws.Close()
	read := func() string {
		t.Helper()
		_ = ws.SetReadDeadline(time.Now().Add(safety))
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return string(b)
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte("2probe"))
	if got := read(); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	if got := <-pending; len(got) != 1 || got[0] != "6" {
		t.Fatalf("pending poll got %q, want a noop", got)
	}
	h.Publish(TopicGlobal, "while_upgrading", map[string]any{})
	_ = ws.WriteMessage(websocket.TextMessage, []byte("5"))
	if got := read(); got != `42["while_upgrading",{}]` {
		t.Fatalf("first websocket packet %q, want the event buffered during the upgrade", got)
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`42["ping",{"n":3}]`))
	if got := read(); got != `42["pong",{"n":3}]` {
		t.Fatalf("over websocket: %q", got)
	}
	if r := eioDo(t, http.MethodGet, url, ""); r.status != http.StatusBadRequest || eioCode(t, r) != eioErrBadRequest {
		t.Fatalf("polling after upgrade = %d %q, want 400 code 3", r.status, r.body)
	}
	// A second websocket for the upgraded session is accepted, then closed.
	ws2, resp2, err := websocket.DefaultDialer.Dial(wsURL(srv, "/socket.io/?EIO=4&transport=websocket&sid="+sid), nil)
	if err != nil {
		t.Fatalf("second websocket: %v", err)
	}
	resp2.Body.Close()
	_ = ws2.SetReadDeadline(time.Now().Add(safety))
	if _, _, err := ws2.ReadMessage(); err == nil {
		t.Fatal("second websocket stayed open")
	}
	ws2.Close()
	h.Publish(TopicGlobal, "still_up", map[string]any{})
	if got := read(); got != `42["still_up",{}]` {
		t.Fatalf("upgraded session after a second websocket: %q", got)
	}
}

func TestWebSocketSession(t *testing.T) {
	// PingTimeout is generous so a loaded machine answers every ping while connected; once the
	// test stops answering, the session still ends well within the read deadline (safety).
	h, srv := newTestServer(t, Options{PingInterval: 20 * time.Millisecond, PingTimeout: 2 * time.Second})
	ws, resp, err := websocket.DefaultDialer.Dial(wsURL(srv, "/socket.io/?EIO=4&transport=websocket"), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer ws.Close()
	read := func() (string, error) {
		_ = ws.SetReadDeadline(time.Now().Add(safety))
		_, b, err := ws.ReadMessage()
		return string(b), err
	}
	open, err := read()
	if err != nil || !strings.HasPrefix(open, `0{`) || !strings.Contains(open, `"upgrades":[]`) {
		t.Fatalf("open packet %q (%v), want upgrades []", open, err)
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte("40"))
	// Answer pings until the socket is connected, skipping them in the stream.
	var got []string
	for len(got) < 2 {
		p, err := read()
		if err != nil {
			t.Fatal(err)
		}
		if p == "2" {
			_ = ws.WriteMessage(websocket.TextMessage, []byte("3"))
			continue
		}
		got = append(got, p)
	}
	if !strings.HasPrefix(got[0], `40{"sid":"`) || !strings.HasPrefix(got[1], `42["connected",`) {
		t.Fatalf("after CONNECT: %q", got)
	}
	if h.Stats().Clients != 1 {
		t.Fatalf("clients = %d, want 1", h.Stats().Clients)
	}
	// Stop answering pings: the server closes the connection.
	for {
		if _, err := read(); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatal("session survived unanswered pings")
			}
			break
		}
	}
}
