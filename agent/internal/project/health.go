package project

import (
	"sync"
	"time"
)

// persistHealth remembers whether project records reach the store: the first failure of a
// streak and when it began, cleared by the next successful write.
type persistHealth struct {
	mu    sync.Mutex
	err   error
	since time.Time
}

func (h *persistHealth) note(err error, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err == nil:
		h.err = nil
	case h.err == nil:
		h.err, h.since = err, now
	}
}

// failure returns the first error of the current failure streak and when it began; err is
// nil if the last write succeeded.
func (h *persistHealth) failure() (since time.Time, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.since, h.err
}
