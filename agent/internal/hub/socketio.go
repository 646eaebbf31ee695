package hub

import (
	"encoding/json"
	"net/http"
)

// Engine.IO HTTP error codes (answered as 400 {"code":N,"message":...}).
const (
	eioErrUnknownTransport = 0
	eioErrUnknownSID       = 1
	eioErrBadHandshake     = 2
	eioErrBadRequest       = 3
	eioErrForbidden        = 4
	eioErrUnsupported      = 5
)

var eioErrMessages = [...]string{
	eioErrUnknownTransport: "Transport unknown",
	eioErrUnknownSID:       "Session ID unknown",
	eioErrBadHandshake:     "Bad handshake method",
	eioErrBadRequest:       "Bad request",
	eioErrForbidden:        "Forbidden",
	eioErrUnsupported:      "Unsupported protocol version",
}

func writeEIOError(w http.ResponseWriter, code int) {
	status := http.StatusBadRequest
	if code == eioErrForbidden {
		status = http.StatusForbidden
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": eioErrMessages[code]})
}

// ServeSocketIO serves /socket.io/: Engine.IO v4 (HTTP long-polling, websocket, and the upgrade
// between them) carrying Socket.IO v5 on namespace "/". The checks follow the reference server:
// transport, then session id, then handshake method, then protocol version.
func (h *Hub) ServeSocketIO(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	transport := q.Get("transport")
	if transport != transportPolling && transport != transportWebSocket {
		writeEIOError(w, eioErrUnknownTransport)
		return
	}
	if sid := q.Get("sid"); sid != "" {
		s := h.session(sid)
		if s == nil {
			writeEIOError(w, eioErrUnknownSID)
			return
		}
		switch {
		case transport == transportWebSocket:
			h.serveUpgrade(w, r, s)
		case r.Method == http.MethodGet:
			s.serveGet(w, r)
		case r.Method == http.MethodPost:
			s.servePost(w, r)
		default:
			writeEIOError(w, eioErrBadRequest)
		}
		return
	}
	if r.Method != http.MethodGet {
		writeEIOError(w, eioErrBadHandshake)
		return
	}
	if q.Get("EIO") != "4" {
		writeEIOError(w, eioErrUnsupported)
		return
	}
	authed := h.opts.CheckToken == nil
	if !authed {
		if tok := TokenFromRequest(r); tok != "" {
			authed = h.opts.CheckToken(tok)
		}
	}
	if transport == transportWebSocket {
		h.serveWebSocketSession(w, r, authed)
		return
	}
	s, ok := h.newSession(transportPolling, authed)
	if !ok {
		http.Error(w, "event hub is shutting down", http.StatusServiceUnavailable)
		return
	}
	writePollBody(w, http.StatusOK, s.openPacket([]string{transportWebSocket}))
}
