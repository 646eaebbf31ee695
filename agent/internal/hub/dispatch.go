package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// noAck marks an event the client sent without asking for an acknowledgement.
const noAck = -1

// Bounds on what one client can make the hub remember.
const (
	maxTopicsPerClient = 1024
	maxIDLen           = 256
)

// subReq is the payload of subscribe_* / unsubscribe_* events.
type subReq struct {
	ProjectID   *string `json:"project_id"`
	OperationID *string `json:"operation_id"`
}

// handle processes one event a client sent. Bad input gets an error event (and a failed ack),
// never a disconnect. Events of one client are handled sequentially.
func (h *Hub) handle(c *client, name string, data json.RawMessage, ackID int64) {
	switch name {
	case "subscribe_project", "subscribe_logs", "subscribe_recovery",
		"unsubscribe_project", "unsubscribe_logs", "unsubscribe_recovery":
		kind, id, topics, err := parseSubscription(name, data)
		if err != nil {
			h.fail(c, name, ackID, err.Error())
			return
		}
		if name[0] == 'u' {
			h.unsubscribe(c, kind, id, topics, ackID)
		} else {
			h.subscribe(c, kind, id, topics, ackID)
		}
	case "ping":
		payload := any(map[string]any{})
		if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && string(trimmed) != "null" {
			payload = json.RawMessage(trimmed)
		}
		if ackID >= 0 {
			c.q.push(encodeAck(uint64(ackID), payload), false)
		}
		c.send(EventPong, payload)
	default:
		h.fail(c, name, ackID, fmt.Sprintf("unknown event %q; known: subscribe_project, subscribe_logs, "+
			"subscribe_recovery, their unsubscribe_ forms, ping", name))
	}
}

// parseSubscription maps a (un)subscribe event to its kind, id and topics.
func parseSubscription(name string, data json.RawMessage) (kind, id string, topics []string, err error) {
	var req subReq
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && string(trimmed) != "null" {
		if err := json.Unmarshal(trimmed, &req); err != nil {
			return "", "", nil, fmt.Errorf("%s: payload must be a JSON object like "+
				`{"project_id": "p-123"} or {"operation_id": "op-1"}: %v`, name, err)
		}
	}
	for _, id := range []*string{req.ProjectID, req.OperationID} {
		if id != nil && len(*id) > maxIDLen {
			return "", "", nil, fmt.Errorf("%s: id longer than %d bytes", name, maxIDLen)
		}
	}
	switch name {
	case "subscribe_project", "unsubscribe_project", "subscribe_logs", "unsubscribe_logs":
		if req.ProjectID == nil || *req.ProjectID == "" {
			return "", "", nil, fmt.Errorf(`%s needs a project id: send {"project_id": "<id>"}`, name)
		}
		id = *req.ProjectID
		if name == "subscribe_project" || name == "unsubscribe_project" {
			return KindProject, id, []string{ProjectTopic(id)}, nil
		}
		return KindLogs, id, []string{LogsTopic(id)}, nil
	default: // recovery: one operation, or all of them plus the circuit breakers
		if req.OperationID == nil || *req.OperationID == "" || *req.OperationID == "all" {
			return KindRecovery, "all", []string{TopicAllOps, TopicBreakers}, nil
		}
		return KindRecovery, *req.OperationID, []string{OpTopic(*req.OperationID)}, nil
	}
}

// subscribe adds the topics, then delivers the snapshot ahead of any change published since.
func (h *Hub) subscribe(c *client, kind, id string, topics []string, ackID int64) {
	h.mu.Lock()
	if _, ok := h.clients[c]; !ok {
		h.mu.Unlock()
		return
	}
	if len(c.topics)+len(topics) > maxTopicsPerClient {
		h.mu.Unlock()
		h.fail(c, "subscribe_"+kind, ackID, fmt.Sprintf("too many subscriptions (at most %d per connection); "+
			"unsubscribe from some first", maxTopicsPerClient))
		return
	}
	for _, t := range topics {
		c.topics[t] = struct{}{}
		subs := h.topics[t]
		if subs == nil {
			subs = make(map[*client]struct{})
			h.topics[t] = subs
		}
		subs[c] = struct{}{}
	}
	// Holding the queue under h.mu means every change published after the subscription became
	// visible lands behind mark, and the snapshot is computed without any hub lock held.
	mark := c.q.hold()
	h.mu.Unlock()

	info := map[string]any{"type": kind, "id": id}
	var batch []item
	if ackID >= 0 {
		batch = append(batch, encodeAck(uint64(ackID), map[string]any{"ok": true, "type": kind, "id": id}))
	}
	if c.wire == wireWS {
		batch = append(batch, c.encode(EventSubscribed, info))
	}
	for _, ev := range h.snapshotOf(kind, id) {
		batch = append(batch, c.encode(ev.Name, ev.Data))
	}
	c.q.release(mark, batch)
}

func (h *Hub) unsubscribe(c *client, kind, id string, topics []string, ackID int64) {
	h.mu.Lock()
	for _, t := range topics {
		h.unsubscribeLocked(c, t)
	}
	h.mu.Unlock()
	if ackID >= 0 {
		c.q.push(encodeAck(uint64(ackID), map[string]any{"ok": true, "type": kind, "id": id}), false)
	}
	if c.wire == wireWS {
		c.send(EventUnsubscribed, map[string]any{"type": kind, "id": id})
	}
}

// snapshotOf calls the snapshot provider; a panicking provider costs the snapshot, not the agent.
func (h *Hub) snapshotOf(kind, id string) (events []Event) {
	h.snapMu.RLock()
	fn := h.snapshot
	h.snapMu.RUnlock()
	if fn == nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("snapshot provider panicked", "kind", kind, "id", id, "panic", r)
			events = nil
		}
	}()
	return fn(kind, id)
}

// fail answers a bad client event with an error event (and a failed ack when one was asked for).
func (h *Hub) fail(c *client, event string, ackID int64, msg string) {
	if ackID >= 0 {
		c.q.push(encodeAck(uint64(ackID), map[string]any{"ok": false, "error": msg}), false)
	}
	c.send(EventError, map[string]any{"message": msg, "event": event})
}
