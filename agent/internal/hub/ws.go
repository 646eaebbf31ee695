package hub

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// wsEnvelope is the /ws message format in both directions.
type wsEnvelope struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// ServeWS serves the plain WebSocket endpoint /ws: JSON text frames {"event": name, "data": {...}}.
// Authentication is the server middleware's job (Bearer header or ?token=).
func (h *Hub) ServeWS(w http.ResponseWriter, r *http.Request) {
	if h.isClosed() {
		http.Error(w, "event hub is shutting down", http.StatusServiceUnavailable)
		return
	}
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the request with an HTTP error
	}
	c := newClient(h, wireWS, nil, func(reason string) {
		h.log.Debug("closing /ws client", "reason", reason)
		deadline := time.Now().Add(time.Second)
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, reason), deadline)
		_ = conn.Close()
	})
	c.send(EventConnected, map[string]any{"sid": c.id, "message": "Connected to ComfyUI Launcher"})
	if !h.add(c) {
		_ = conn.Close()
		return
	}
	defer func() {
		h.remove(c)
		c.q.close()
		c.kill("connection closed")
	}()
	go h.wsWrite(conn, c)
	h.wsRead(conn, c)
}

// wsRead handles inbound frames until the connection fails or goes quiet past the ping timeout.
func (h *Hub) wsRead(conn *websocket.Conn, c *client) {
	conn.SetReadLimit(h.opts.MaxPayload)
	alive := func() { _ = conn.SetReadDeadline(time.Now().Add(h.opts.PingInterval + h.opts.PingTimeout)) }
	alive()
	conn.SetPongHandler(func(string) error { alive(); return nil })
	for {
		mt, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		alive()
		if mt != websocket.TextMessage {
			h.fail(c, "", noAck, "binary frames are not supported; send JSON text frames")
			continue
		}
		var env wsEnvelope
		if err := json.Unmarshal(data, &env); err != nil || env.Event == "" {
			h.fail(c, "", noAck, `invalid message: expected {"event": "<name>", "data": {...}}`)
			continue
		}
		h.handle(c, env.Event, env.Data, noAck)
	}
}

// wsWrite is the connection's only writer: queued frames and keep-alive pings.
func (h *Hub) wsWrite(conn *websocket.Conn, c *client) {
	ping := time.NewTicker(h.opts.PingInterval)
	defer ping.Stop()
	defer c.kill("write loop ended")
	for {
		if batch := c.q.take(); batch != nil {
			for _, it := range batch {
				_ = conn.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
				if err := conn.WriteMessage(websocket.TextMessage, it.b); err != nil {
					return
				}
			}
			c.q.recycle(batch)
			continue
		}
		select {
		case <-c.q.notify:
		case <-c.q.done:
			return
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.opts.WriteTimeout)); err != nil {
				return
			}
		}
	}
}
