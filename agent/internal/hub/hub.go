package hub

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Event names the hub itself produces or treats specially.
const (
	EventConnected    = "connected"
	EventProgress     = "progress_update"
	EventSubscribed   = "subscribed"
	EventUnsubscribed = "unsubscribed"
	EventPong         = "pong"
	EventError        = "error"
)

// Subscription kinds, passed to snapshot functions.
const (
	KindProject  = "project"
	KindLogs     = "logs"
	KindRecovery = "recovery" // id is an operation id, or "all"
)

// Event is one named event with a JSON-encodable payload.
type Event struct {
	Name string
	Data any
}

// SnapshotFunc returns the current state a new subscriber of kind/id receives before any change,
// for example the project's progress_update or its recent log_entry events. It must not block
// for long: the subscriber's stream waits for it.
type SnapshotFunc func(kind, id string) []Event

// Options configures a Hub. Zero values mean the defaults noted on each field.
type Options struct {
	// CheckToken validates an API token; nil turns authentication off. /ws relies on the
	// server's middleware; /socket.io/ checks the handshake request or the CONNECT auth payload.
	CheckToken func(token string) bool
	// CheckOrigin decides whether a WebSocket upgrade from r's Origin is allowed (cross-site
	// WebSocket hijacking guard). Nil means gorilla's default: same host only.
	CheckOrigin func(r *http.Request) bool
	// Snapshot provides subscription snapshots; see also SetSnapshot.
	Snapshot SnapshotFunc
	// QueueSize is the number of frames a client may lag behind before it is disconnected
	// (default 256). progress_update frames of one topic are coalesced and count once.
	QueueSize int
	// PingInterval and PingTimeout are the Engine.IO heartbeat (defaults 25s and 20s); /ws uses
	// them for WebSocket ping frames.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// ConnectTimeout closes an Engine.IO session that never sends a Socket.IO CONNECT (45s).
	ConnectTimeout time.Duration
	// UpgradeTimeout bounds the polling-to-websocket upgrade handshake (10s).
	UpgradeTimeout time.Duration
	// MaxPayload caps one inbound message or polling POST body in bytes (1,000,000).
	MaxPayload int64
	// WriteTimeout bounds one frame write to a client (10s).
	WriteTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.QueueSize <= 0 {
		o.QueueSize = 256
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 20 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 45 * time.Second
	}
	if o.UpgradeTimeout <= 0 {
		o.UpgradeTimeout = 10 * time.Second
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = 1_000_000
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	return o
}

// Hub fans published events out to subscribed clients over /ws and /socket.io/.
type Hub struct {
	log      *slog.Logger
	opts     Options
	upgrader websocket.Upgrader

	mu      sync.RWMutex
	closed  bool
	clients map[*client]struct{}
	topics  map[string]map[*client]struct{}

	smu      sync.Mutex
	sessions map[string]*session // Engine.IO sessions by sid

	snapMu   sync.RWMutex
	snapshot SnapshotFunc

	overflows atomic.Int64

	// onPollWait, when set by tests, is called each time a polling GET starts waiting.
	onPollWait atomic.Pointer[func(sid string)]
}

// New returns a Hub. It starts no goroutines until clients connect.
func New(logger *slog.Logger, opts Options) *Hub {
	opts = opts.withDefaults()
	h := &Hub{
		log:      logger.With("component", "hub"),
		opts:     opts,
		clients:  make(map[*client]struct{}),
		topics:   make(map[string]map[*client]struct{}),
		sessions: make(map[string]*session),
		snapshot: opts.Snapshot,
	}
	h.upgrader = websocket.Upgrader{
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		CheckOrigin:     opts.CheckOrigin,
	}
	return h
}

// SetSnapshot replaces the snapshot function; the app sets it once the packages providing
// state exist (they need the hub as their Publisher first).
func (h *Hub) SetSnapshot(fn SnapshotFunc) {
	h.snapMu.Lock()
	h.snapshot = fn
	h.snapMu.Unlock()
}

// Publish sends event to every client subscribed to topic (every client for TopicGlobal). It
// never blocks on clients: each has a bounded queue, and one that overflows is disconnected.
func (h *Hub) Publish(topic, event string, data any) {
	raw, err := json.Marshal(data)
	if err != nil {
		h.log.Warn("dropping event with unencodable payload", "event", event, "topic", topic, "err", err)
		return
	}
	key := ""
	if event == EventProgress {
		key = topic
	}
	var enc frames
	h.mu.RLock()
	defer h.mu.RUnlock()
	subs := h.topics[topic]
	if topic == TopicGlobal {
		subs = h.clients
	}
	for c := range subs {
		c.q.push(item{key: key, b: enc.get(c.wire, event, raw)}, false)
	}
}

// frames encodes one published event at most once per wire format.
type frames struct{ ws, sio []byte }

func (f *frames) get(w wire, event string, raw json.RawMessage) []byte {
	if w == wireWS {
		if f.ws == nil {
			f.ws = encodeEvent(wireWS, event, raw)
		}
		return f.ws
	}
	if f.sio == nil {
		f.sio = encodeEvent(wireSIO, event, raw)
	}
	return f.sio
}

// Stats is a point-in-time view of the hub for health and metrics.
type Stats struct {
	Clients   int   // connected clients (/ws connections and Socket.IO sockets)
	WS        int   // of Clients, /ws connections
	SocketIO  int   // of Clients, Socket.IO sockets
	Sessions  int   // Engine.IO sessions, including those not yet CONNECTed
	Overflows int64 // clients disconnected because their queue overflowed
}

// Stats returns current counters.
func (h *Hub) Stats() Stats {
	var st Stats
	h.mu.RLock()
	st.Clients = len(h.clients)
	for c := range h.clients {
		if c.wire == wireSIO {
			st.SocketIO++
		} else {
			st.WS++
		}
	}
	h.mu.RUnlock()
	h.smu.Lock()
	st.Sessions = len(h.sessions)
	h.smu.Unlock()
	st.Overflows = h.overflows.Load()
	return st
}

// Close disconnects every client and session and refuses new ones. Used at agent shutdown.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	cs := make([]*client, 0, len(h.clients))
	for c := range h.clients {
		cs = append(cs, c)
	}
	clear(h.clients)
	clear(h.topics)
	h.mu.Unlock()
	h.smu.Lock()
	ss := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		ss = append(ss, s)
	}
	h.smu.Unlock()

	// Concurrently: closing a stuck connection may wait out a short write deadline.
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Go(func() { s.close("server shutdown") })
	}
	for _, c := range cs {
		wg.Go(func() { c.kill("server shutdown") })
	}
	wg.Wait()
}

func (h *Hub) isClosed() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closed
}

// add registers c so that it receives TopicGlobal events; false when the hub is closed.
func (h *Hub) add(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.clients[c] = struct{}{}
	return true
}

// remove unregisters c and all its subscriptions. It is idempotent.
func (h *Hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c)
	for t := range c.topics {
		h.unsubscribeLocked(c, t)
	}
}

func (h *Hub) unsubscribeLocked(c *client, topic string) {
	delete(c.topics, topic)
	if subs := h.topics[topic]; subs != nil {
		delete(subs, c)
		if len(subs) == 0 {
			delete(h.topics, topic)
		}
	}
}

// overflowed is called (without hub locks held) when c's queue overflowed.
func (h *Hub) overflowed(c *client) {
	h.overflows.Add(1)
	h.log.Warn("disconnecting slow client", "client", c.id, "queue_size", h.opts.QueueSize)
	go c.kill("send queue full")
}

// newID returns a random 20-character URL-safe identifier.
func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}
