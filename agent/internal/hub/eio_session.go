package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Engine.IO v4 packet types.
const (
	eioOpen    = '0'
	eioClose   = '1'
	eioPing    = '2'
	eioPong    = '3'
	eioMessage = '4'
	eioUpgrade = '5'
	eioNoop    = '6'
)

const (
	transportPolling   = "polling"
	transportWebSocket = "websocket"
)

// session is one Engine.IO connection. It outlives its transport during the polling->websocket
// upgrade, and carries at most one Socket.IO socket (namespace "/"), which is the hub client.
type session struct {
	h      *Hub
	sid    string
	q      *queue // outbound Engine.IO packets, shared by whichever transport is current
	authed bool   // the handshake request carried a valid token

	mu        sync.Mutex
	transport string
	probing   bool            // a websocket is in the middle of the upgrade handshake
	ws        *websocket.Conn // set once the session runs over websocket
	getBusy   bool
	postBusy  bool
	sock      *client // the Socket.IO socket on "/", nil until CONNECT
	closed    bool

	inMu sync.Mutex // serialises inbound packet handling across the two transports of an upgrade

	done         chan struct{}
	pong         chan struct{}
	connectTimer *time.Timer
}

func (h *Hub) newSession(transport string, authed bool) (*session, bool) {
	s := &session{
		h:         h,
		sid:       newID(),
		authed:    authed,
		transport: transport,
		done:      make(chan struct{}),
		pong:      make(chan struct{}, 1),
	}
	s.q = newQueue(h.opts.QueueSize, func() {
		h.overflows.Add(1)
		h.log.Warn("closing slow Socket.IO session", "sid", s.sid, "queue_size", h.opts.QueueSize)
		go s.close("send queue full")
	})
	s.connectTimer = time.AfterFunc(h.opts.ConnectTimeout, func() {
		s.mu.Lock()
		connected := s.sock != nil
		s.mu.Unlock()
		if !connected {
			s.close("no Socket.IO CONNECT within connect timeout")
		}
	})
	// Checked under smu so that Close, which sets closed before collecting sessions, sees us.
	h.smu.Lock()
	if h.isClosed() {
		h.smu.Unlock()
		s.connectTimer.Stop()
		return nil, false
	}
	h.sessions[s.sid] = s
	h.smu.Unlock()
	go s.heartbeat()
	return s, true
}

func (h *Hub) session(sid string) *session {
	h.smu.Lock()
	defer h.smu.Unlock()
	return h.sessions[sid]
}

// openPacket is the Engine.IO handshake answer.
func (s *session) openPacket(upgrades []string) []byte {
	o := s.h.opts
	b, _ := json.Marshal(map[string]any{
		"sid":          s.sid,
		"upgrades":     upgrades,
		"pingInterval": o.PingInterval.Milliseconds(),
		"pingTimeout":  o.PingTimeout.Milliseconds(),
		"maxPayload":   o.MaxPayload,
	})
	return append([]byte{eioOpen}, b...)
}

// heartbeat sends a ping every PingInterval and closes the session when no pong follows within
// PingTimeout (in Engine.IO v4 the server pings).
func (s *session) heartbeat() {
	t := time.NewTimer(s.h.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		select { // forget a stray pong from before this ping
		case <-s.pong:
		default:
		}
		s.q.push(item{b: []byte{eioPing}}, true)
		t.Reset(s.h.opts.PingTimeout)
		select {
		case <-s.done:
			return
		case <-s.pong:
			t.Reset(s.h.opts.PingInterval)
		case <-t.C:
			s.close("ping timeout")
			return
		}
	}
}

// close ends the session: its socket leaves the hub, a pending poll gets a close packet, the
// websocket is closed. It is idempotent and safe from any goroutine.
func (s *session) close(reason string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	ws, sock := s.ws, s.sock
	s.sock = nil
	s.mu.Unlock()

	close(s.done)
	s.connectTimer.Stop()
	s.h.smu.Lock()
	delete(s.h.sessions, s.sid)
	s.h.smu.Unlock()
	if sock != nil {
		s.h.remove(sock)
	}
	s.q.close()
	if ws != nil {
		_ = ws.Close()
	}
	s.h.log.Debug("engine.io session closed", "sid", s.sid, "reason", reason)
}

var errClientClose = errors.New("client sent close")

// onPacket handles one inbound Engine.IO packet. An error means a protocol violation; the caller
// closes the session.
func (s *session) onPacket(p string) error {
	s.inMu.Lock()
	defer s.inMu.Unlock()
	if p == "" {
		return errors.New("empty Engine.IO packet")
	}
	switch p[0] {
	case eioClose:
		return errClientClose
	case eioPing: // not used by v4 clients outside the upgrade probe; answer anyway
		s.q.push(item{b: append([]byte{eioPong}, p[1:]...)}, true)
	case eioPong:
		select {
		case s.pong <- struct{}{}:
		default:
		}
	case eioMessage:
		return s.onSocketIO(p[1:])
	case eioNoop:
	case 'b': // base64 binary message: we take no binary data
		s.refuseBinary(noAck)
	default:
		return fmt.Errorf("unexpected Engine.IO packet type %q", p[0])
	}
	return nil
}

// onSocketIO handles one Socket.IO packet.
func (s *session) onSocketIO(raw string) error {
	p, err := decodeSIO(raw)
	if err != nil {
		return err
	}
	s.mu.Lock()
	sock := s.sock
	s.mu.Unlock()
	switch p.typ {
	case sioConnect:
		s.connect(p)
	case sioDisconnect:
		if p.nsp == "/" && sock != nil {
			s.mu.Lock()
			s.sock = nil
			s.mu.Unlock()
			s.h.remove(sock) // the Engine.IO session stays up, as in the reference server
		}
	case sioEvent:
		if p.nsp != "/" || sock == nil {
			return nil // not connected to that namespace: the reference server ignores it
		}
		name, data, err := eventArgs(p.data)
		if err != nil {
			return err
		}
		s.h.handle(sock, name, data, p.ackID)
	case sioAck: // we never ask clients for acks
	case sioBinaryEvent, sioBinaryAck:
		s.refuseBinary(p.ackID)
	default:
		return fmt.Errorf("%w: type %q is server-to-client only", errBadPacket, p.typ)
	}
	return nil
}

// connect answers a Socket.IO CONNECT: only namespace "/", authenticated by the handshake
// request or by {"token": ...} in the auth payload.
func (s *session) connect(p sioPacket) {
	if p.nsp != "/" {
		s.q.push(item{b: encodeSIO(sioConnectError, p.nsp, map[string]string{"message": "Invalid namespace"})}, false)
		return
	}
	if check := s.h.opts.CheckToken; check != nil && !s.authed {
		var auth struct {
			Token string `json:"token"`
		}
		if len(p.data) > 0 {
			_ = json.Unmarshal(p.data, &auth)
		}
		if auth.Token == "" || !check(auth.Token) {
			s.q.push(item{b: encodeSIO(sioConnectError, "/", map[string]string{"message": "unauthorized"})}, false)
			return
		}
	}
	s.mu.Lock()
	if s.sock != nil || s.closed { // a repeated CONNECT keeps the existing socket
		s.mu.Unlock()
		return
	}
	c := newClient(s.h, wireSIO, s.q, func(reason string) { s.close(reason) })
	s.sock = c
	s.mu.Unlock()
	s.connectTimer.Stop()
	// Held until the socket is registered: whoever sees "connected" can rely on the hub knowing
	// the socket, and a global event published meanwhile still comes after the CONNECT answer.
	mark := s.q.hold()
	s.q.push(item{b: encodeSIO(sioConnect, "/", map[string]string{"sid": c.id})}, false)
	c.send(EventConnected, map[string]any{"sid": c.id, "message": "Connected to ComfyUI Launcher"})
	added := s.h.add(c)
	s.q.release(mark, nil)
	if !added {
		s.close("server shutdown")
	}
}

// refuseBinary answers a binary message or attachment packet: we take JSON only.
func (s *session) refuseBinary(ackID int64) {
	s.mu.Lock()
	sock := s.sock
	s.mu.Unlock()
	if sock == nil {
		return
	}
	s.h.fail(sock, "", ackID, "binary attachments are not supported; send JSON")
}
