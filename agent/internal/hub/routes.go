package hub

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// Routes registers /ws and /socket.io/ (GET for polls and upgrades, POST for polling writes).
// The server must not apply a WriteTimeout shorter than PingInterval to these routes' long polls;
// the hub extends the deadline per request where the ResponseWriter allows it.
func (h *Hub) Routes(r *httprouter.Router) {
	r.HandlerFunc(http.MethodGet, "/ws", h.ServeWS)
	r.HandlerFunc(http.MethodGet, "/socket.io/", h.ServeSocketIO)
	r.HandlerFunc(http.MethodPost, "/socket.io/", h.ServeSocketIO)
}
