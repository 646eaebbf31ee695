package hub

import (
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// serveWebSocketSession opens a session directly over websocket (client transports:['websocket']).
func (h *Hub) serveWebSocketSession(w http.ResponseWriter, r *http.Request, authed bool) {
	if h.isClosed() {
		http.Error(w, "event hub is shutting down", http.StatusServiceUnavailable)
		return
	}
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered with an HTTP error
	}
	s, ok := h.newSession(transportWebSocket, authed)
	if !ok {
		_ = conn.Close()
		return
	}
	s.mu.Lock()
	s.ws = conn
	closed := s.closed // closed by Hub.Close before it could see the conn
	s.mu.Unlock()
	if closed {
		_ = conn.Close()
		return
	}
	_ = conn.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
	if err := conn.WriteMessage(websocket.TextMessage, s.openPacket([]string{})); err != nil {
		s.close("write error")
		return
	}
	go s.wsWrite(conn)
	s.wsRead(conn)
}

// serveUpgrade moves a polling session onto websocket: 2probe -> 3probe (and a noop to release
// the pending poll), then the client's 5 (upgrade) switches transports and flushes the buffer.
func (h *Hub) serveUpgrade(w http.ResponseWriter, r *http.Request, s *session) {
	s.mu.Lock()
	busy := s.transport != transportPolling || s.probing
	if !busy {
		s.probing = true
	}
	s.mu.Unlock()
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		if !busy {
			s.endProbe()
		}
		return
	}
	if busy { // the reference server accepts a second websocket and closes it
		_ = conn.Close()
		return
	}
	conn.SetReadLimit(h.opts.MaxPayload)
	_ = conn.SetReadDeadline(time.Now().Add(h.opts.UpgradeTimeout))
	if !s.probe(conn) {
		s.endProbe()
		_ = conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = conn.Close()
		return
	}
	s.transport, s.ws, s.probing = transportWebSocket, conn, false
	s.mu.Unlock()
	s.q.signal() // wake a poll that slipped in, so it steps aside
	go s.wsWrite(conn)
	s.wsRead(conn)
}

// probe runs the upgrade handshake on conn; false leaves the session on polling.
func (s *session) probe(conn *websocket.Conn) bool {
	probed := false
	for {
		mt, data, err := conn.ReadMessage()
		if err != nil || mt != websocket.TextMessage {
			return false
		}
		switch msg := string(data); {
		case msg == "2probe" && !probed:
			probed = true
			_ = conn.SetWriteDeadline(time.Now().Add(s.h.opts.WriteTimeout))
			if conn.WriteMessage(websocket.TextMessage, []byte("3probe")) != nil {
				return false
			}
			s.q.push(item{b: []byte{eioNoop}}, true) // returns the pending poll
		case msg == string(eioUpgrade) && probed:
			return true
		default:
			return false
		}
	}
}

func (s *session) endProbe() {
	s.mu.Lock()
	s.probing = false
	s.mu.Unlock()
}

// wsRead handles inbound Engine.IO packets, one per text frame, until the connection ends.
func (s *session) wsRead(conn *websocket.Conn) {
	conn.SetReadLimit(s.h.opts.MaxPayload)
	for {
		mt, data, err := conn.ReadMessage()
		if err != nil {
			s.close("transport closed")
			return
		}
		if mt != websocket.TextMessage {
			continue // attachments of a binary packet, which was already refused
		}
		if err := s.onPacket(string(data)); err != nil {
			if errors.Is(err, errClientClose) {
				s.close("client close")
			} else {
				s.close("protocol error: " + err.Error())
			}
			return
		}
	}
}

// wsWrite is the connection's only writer after the handshake.
func (s *session) wsWrite(conn *websocket.Conn) {
	for {
		if batch := s.q.take(); batch != nil {
			for _, it := range batch {
				_ = conn.SetWriteDeadline(time.Now().Add(s.h.opts.WriteTimeout))
				if err := conn.WriteMessage(websocket.TextMessage, it.b); err != nil {
					s.close("write error")
					return
				}
			}
			s.q.recycle(batch)
			continue
		}
		select {
		case <-s.q.notify:
		case <-s.done:
			return
		}
	}
}
