package hub

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// Engine.IO polling joins packets with the record separator.
const recordSep = '\x1e'

func writePollBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// beginPoll claims the session's GET or POST slot. A second request of the same kind while one is
// in flight violates the protocol: it gets 400 and the session is closed.
func (s *session) beginPoll(w http.ResponseWriter, busy *bool, what string) bool {
	s.mu.Lock()
	if s.transport != transportPolling || s.closed {
		s.mu.Unlock()
		writeEIOError(w, eioErrBadRequest)
		return false
	}
	if *busy {
		s.mu.Unlock()
		writeEIOError(w, eioErrBadRequest)
		s.close("overlapping " + what)
		return false
	}
	*busy = true
	s.mu.Unlock()
	return true
}

func (s *session) endPoll(busy *bool) {
	s.mu.Lock()
	*busy = false
	s.mu.Unlock()
}

// serveGet is a long poll: it returns as soon as packets are pending (at the latest with the
// next heartbeat ping) or with a close packet when the session ends.
func (s *session) serveGet(w http.ResponseWriter, r *http.Request) {
	if !s.beginPoll(w, &s.getBusy, "GET") {
		return
	}
	defer s.endPoll(&s.getBusy)
	// A long poll lasts up to PingInterval; don't let a server-wide WriteTimeout cut it short.
	deadline := time.Now().Add(s.h.opts.PingInterval + s.h.opts.PingTimeout + s.h.opts.WriteTimeout)
	_ = http.NewResponseController(w).SetWriteDeadline(deadline)
	for {
		s.mu.Lock()
		upgraded := s.transport != transportPolling
		s.mu.Unlock()
		if upgraded { // the websocket took over; release this poll without stealing its packets
			writePollBody(w, http.StatusOK, []byte{eioNoop})
			return
		}
		if batch := s.q.take(); batch != nil {
			var body bytes.Buffer
			for i, it := range batch {
				if i > 0 {
					body.WriteByte(recordSep)
				}
				body.Write(it.b)
			}
			s.q.recycle(batch)
			writePollBody(w, http.StatusOK, body.Bytes())
			return
		}
		if hook := s.h.onPollWait.Load(); hook != nil {
			(*hook)(s.sid)
		}
		select {
		case <-s.q.notify:
		case <-s.done:
			writePollBody(w, http.StatusOK, []byte{eioClose})
			return
		case <-r.Context().Done():
			return
		}
	}
}

// servePost takes packets from the client, joined with the record separator, and answers "ok".
func (s *session) servePost(w http.ResponseWriter, r *http.Request) {
	if !s.beginPoll(w, &s.postBusy, "POST") {
		return
	}
	defer s.endPoll(&s.postBusy)
	body, err := io.ReadAll(io.LimitReader(r.Body, s.h.opts.MaxPayload+1))
	if err != nil {
		writeEIOError(w, eioErrBadRequest)
		s.close("unreadable POST body")
		return
	}
	if int64(len(body)) > s.h.opts.MaxPayload {
		w.Header().Set("Connection", "close")
		writePollBody(w, http.StatusRequestEntityTooLarge, []byte("payload too large"))
		s.close("payload too large")
		return
	}
	for p := range strings.SplitSeq(string(body), string(recordSep)) {
		if err := s.onPacket(p); err != nil {
			if errors.Is(err, errClientClose) {
				s.close("client close")
				break
			}
			writeEIOError(w, eioErrBadRequest)
			s.close("protocol error: " + err.Error())
			return
		}
	}
	writePollBody(w, http.StatusOK, []byte("ok"))
}
