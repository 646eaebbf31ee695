package hub

import (
	"encoding/json"
	"strconv"
	"sync"
)

// wire is the framing a client's queue holds.
type wire uint8

const (
	wireWS  wire = iota // /ws: {"event": name, "data": ...} text frames
	wireSIO             // /socket.io/: Engine.IO packets carrying Socket.IO packets
)

// client is one subscriber: a /ws connection or a Socket.IO socket on namespace "/".
type client struct {
	id     string
	wire   wire
	q      *queue
	topics map[string]struct{} // guarded by Hub.mu

	killOnce sync.Once
	closeFn  func(reason string) // tears the transport down; must not block on hub locks
}

func newClient(h *Hub, w wire, q *queue, closeFn func(reason string)) *client {
	c := &client{id: newID(), wire: w, q: q, topics: make(map[string]struct{}), closeFn: closeFn}
	if q == nil {
		c.q = newQueue(h.opts.QueueSize, func() { h.overflowed(c) })
	}
	return c
}

// kill disconnects the client once, whatever the reason.
func (c *client) kill(reason string) {
	c.killOnce.Do(func() { c.closeFn(reason) })
}

// send queues an event for c, subject to the queue limit.
func (c *client) send(name string, data any) {
	c.q.push(c.encode(name, data), false)
}

func (c *client) encode(name string, data any) item {
	raw, err := json.Marshal(data)
	if err != nil {
		raw = []byte("null")
	}
	return item{b: encodeEvent(c.wire, name, raw)}
}

// encodeEvent frames an event for w: {"event":name,"data":raw} or 42[name,raw].
func encodeEvent(w wire, name string, raw json.RawMessage) []byte {
	qn, _ := json.Marshal(name) // a string always encodes
	if len(raw) == 0 {
		raw = json.RawMessage("null")
	}
	var b []byte
	if w == wireWS {
		b = make([]byte, 0, len(qn)+len(raw)+20)
		b = append(b, `{"event":`...)
		b = append(b, qn...)
		b = append(b, `,"data":`...)
		b = append(b, raw...)
		return append(b, '}')
	}
	b = make([]byte, 0, len(qn)+len(raw)+4)
	b = append(b, "42["...)
	b = append(b, qn...)
	b = append(b, ',')
	b = append(b, raw...)
	return append(b, ']')
}

// encodeAck frames a Socket.IO ACK carrying one argument: 43<id>[raw].
func encodeAck(id uint64, data any) item {
	raw, err := json.Marshal(data)
	if err != nil {
		raw = []byte("null")
	}
	b := make([]byte, 0, len(raw)+24)
	b = append(b, "43"...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, '[')
	b = append(b, raw...)
	return item{b: append(b, ']')}
}
