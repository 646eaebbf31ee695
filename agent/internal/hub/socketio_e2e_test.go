package hub

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// e2eScript locates scripts/e2e/<name> and node, skipping (or failing when
// LAUNCHER_E2E_REQUIRED=1, as in CI) when either is missing.
func e2eScript(t *testing.T, name string) (node, script string) {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		msg := why + "; install node >= 20 and run `npm ci` in scripts/e2e to enable this test"
		if os.Getenv("LAUNCHER_E2E_REQUIRED") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		missing("cannot locate the test source")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "scripts", "e2e")
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not found in PATH")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io-client")); err != nil {
		missing("scripts/e2e/node_modules/socket.io-client is missing")
	}
	return node, filepath.Join(dir, name)
}

// nodeClient is a running sio-client.js whose JSON-line steps the test follows.
type nodeClient struct {
	cmd    *exec.Cmd
	steps  chan map[string]any
	seen   []string
	stderr bytes.Buffer
}

func startNodeClient(t *testing.T, url string, args ...string) *nodeClient {
	t.Helper()
	node, script := e2eScript(t, "sio-client.js")
	n := &nodeClient{steps: make(chan map[string]any, 64)}
	n.cmd = exec.Command(node, append([]string{script, url}, args...)...)
	n.cmd.Stderr = &n.stderr
	out, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	go func() {
		defer close(n.steps)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var step map[string]any
			if json.Unmarshal(sc.Bytes(), &step) != nil {
				step = map[string]any{"step": "unparsed", "line": sc.Text()}
			}
			n.steps <- step
		}
	}()
	t.Cleanup(func() {
		if n.cmd.ProcessState == nil {
			_ = n.cmd.Process.Kill()
			_ = n.cmd.Wait()
		}
	})
	return n
}

// expect returns the next step named want, skipping others (reconnect noise such as
// connect_error); it fails on the client's own error or timeout steps.
func (n *nodeClient) expect(t *testing.T, want string) map[string]any {
	t.Helper()
	deadline := time.After(3 * safety) // safety net only; the client has its own timeout
	for {
		select {
		case step, ok := <-n.steps:
			if !ok {
				t.Fatalf("node exited before %q; steps %v; stderr:\n%s", want, n.seen, n.stderr.String())
			}
			b, _ := json.Marshal(step)
			n.seen = append(n.seen, string(b))
			switch step["step"] {
			case want:
				return step
			case "error", "timeout":
				t.Fatalf("node client failed waiting for %q: steps %v", want, n.seen)
			}
		case <-deadline:
			t.Fatalf("no %q step from node; steps %v", want, n.seen)
		}
	}
}

func (n *nodeClient) wait(t *testing.T) {
	t.Helper()
	if err := n.cmd.Wait(); err != nil {
		t.Fatalf("node client: %v; steps %v; stderr:\n%s", err, n.seen, n.stderr.String())
	}
}

// serveOn starts a hub server on ln.
func serveOn(t *testing.T, ln net.Listener, opts Options) (*Hub, *httptest.Server) {
	t.Helper()
	h := New(testLogger(), opts)
	srv := httptest.NewUnstartedServer(testMux(h))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() { h.Close(); srv.Close() })
	return h, srv
}

func sessionTransports(h *Hub) []string {
	h.smu.Lock()
	defer h.smu.Unlock()
	var ts []string
	for _, s := range h.sessions {
		s.mu.Lock()
		ts = append(ts, s.transport)
		s.mu.Unlock()
	}
	return ts
}

func TestSocketIOClientE2E(t *testing.T) {
	const token = "s3cret"
	tests := []struct {
		name, transport, tokenVia, firstTransport, serverTransport string
	}{
		{"default transports: polling then upgrade, token in query", "default", "query", "polling", transportWebSocket},
		{"websocket only, token in CONNECT auth", "websocket", "auth", "websocket", transportWebSocket},
		{"polling only, token in CONNECT auth", "polling", "auth", "polling", transportPolling},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			opts := Options{
				CheckToken:   func(tok string) bool { return tok == token },
				PingInterval: 50 * time.Millisecond, // the client must answer heartbeats to stay up
				PingTimeout:  5 * time.Second,       // generous: the machine may be busy
			}
			h1, srv1 := serveOn(t, ln, opts)
			n := startNodeClient(t, srv1.URL, "--transport", tc.transport, "--token", token, "--token-via", tc.tokenVia)

			if open := n.expect(t, "open"); open["transport"] != tc.firstTransport {
				t.Fatalf("engine opened over %v, want %s", open["transport"], tc.firstTransport)
			}
			if c := n.expect(t, "connected"); c["n"] != float64(1) || c["sid"] == "" ||
				c["message"] != "Connected to ComfyUI Launcher" {
				t.Fatalf("connected = %v", c)
			}
			if tc.transport == "default" {
				if up := n.expect(t, "upgraded"); up["transport"] != "websocket" {
					t.Fatalf("after upgrade the client runs over %v", up["transport"])
				}
			}
			ack := n.expect(t, "acked")["ack"].(map[string]any)
			if ack["ok"] != true || ack["type"] != "project" || ack["id"] != "p-e2e" {
				t.Fatalf("ack = %v", ack)
			}
			if got := sessionTransports(h1); len(got) != 1 || got[0] != tc.serverTransport {
				t.Fatalf("server sessions run over %v, want one %s session", got, tc.serverTransport)
			}
			for range 3 { // the server pings again only after a pong: the client answers
				n.expect(t, "ping")
			}

			h1.Publish(ProjectTopic("p-e2e"), EventProgress, progress("p-e2e", 42))
			p := n.expect(t, "progress")["data"].(map[string]any)
			if p["progress"].(map[string]any)["progress"] != float64(42) {
				t.Fatalf("progress_update = %v, want 42", p)
			}

			// Restart on the same address; the client reconnects and re-subscribes by itself,
			// and the new hub's snapshot answers the subscription.
			h1.Close()
			srv1.Close()
			ln2, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("listen again on %s: %v", addr, err)
			}
			opts.Snapshot = func(kind, id string) []Event {
				return []Event{{Name: EventProgress, Data: progress(id, 77)}}
			}
			serveOn(t, ln2, opts)
			n.expect(t, "disconnect")
			if c := n.expect(t, "connected"); c["n"] != float64(2) {
				t.Fatalf("reconnect: connected = %v", c)
			}
			if tc.transport == "default" {
				n.expect(t, "upgraded")
			}
			n.expect(t, "acked")
			if p := n.expect(t, "progress")["data"].(map[string]any); p["progress"].(map[string]any)["progress"] != float64(77) {
				t.Fatalf("snapshot after reconnect = %v, want 77", p)
			}
			n.expect(t, "done")
			n.wait(t)
		})
	}
}

func TestSocketIOClientE2EUnauthorized(t *testing.T) {
	tests := []struct{ name, transport string }{
		{"polling", "default"},
		{"websocket", "websocket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newTestServer(t, Options{CheckToken: func(tok string) bool { return tok == "right" }})
			n := startNodeClient(t, srv.URL, "--transport", tc.transport, "--token", "wrong", "--expect-connect-error")
			if e := n.expect(t, "connect_error"); e["message"] != "unauthorized" {
				t.Fatalf("connect_error = %v, want unauthorized", e)
			}
			n.wait(t)
		})
	}
}
