package api

import (
	"bufio"
	"errors"
	"net"
	"net/http"
)

type (
	netConn         = net.Conn
	bufioReadWriter = bufio.ReadWriter
)

// hijack passes Hijack through the access-log recorder so WebSocket upgrades keep working.
func hijack(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("response writer does not support hijacking")
	}
	return h.Hijack()
}
