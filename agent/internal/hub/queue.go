package hub

import (
	"slices"
	"sync"
)

// item is one encoded frame waiting to be written to a client.
type item struct {
	// key is non-empty for frames that may be coalesced: a newer frame with the same key replaces
	// the pending one instead of queueing behind it.
	key string
	b   []byte
}

// queue is a client's bounded outbound buffer. Publishers push without ever blocking; one
// consumer (a writer goroutine or a long-poll request) takes everything pending at once.
//
// When a push would exceed the limit the queue closes itself and calls onOverflow: a client that
// cannot keep up is disconnected rather than slowing everyone else down.
type queue struct {
	mu     sync.Mutex
	items  []item
	spare  []item         // the consumer's previous batch, reused to avoid allocations
	keyed  map[string]int // coalescing key -> index in items
	limit  int
	held   bool // a subscription is splicing its snapshot in; take returns nothing meanwhile
	closed bool

	notify     chan struct{} // capacity 1: "something was pushed"
	done       chan struct{} // closed by close or overflow
	onOverflow func()
}

func newQueue(limit int, onOverflow func()) *queue {
	return &queue{
		keyed:      make(map[string]int),
		limit:      limit,
		notify:     make(chan struct{}, 1),
		done:       make(chan struct{}),
		onOverflow: onOverflow,
	}
}

// push queues it. force skips the limit; it is for protocol frames (pings, noops) that are rare
// and bounded by time, never for data. It reports false when the queue is closed or overflowed.
func (q *queue) push(it item, force bool) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if it.key != "" {
		if i, ok := q.keyed[it.key]; ok {
			q.items[i] = it // the consumer lags: keep only the newest pending frame
			q.mu.Unlock()
			return true
		}
	}
	if !force && len(q.items) >= q.limit {
		q.closed = true
		q.items = nil
		close(q.done)
		q.mu.Unlock()
		if q.onOverflow != nil {
			q.onOverflow()
		}
		return false
	}
	if it.key != "" {
		q.keyed[it.key] = len(q.items)
	}
	q.items = append(q.items, it)
	q.mu.Unlock()
	q.signal()
	return true
}

func (q *queue) signal() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// take returns all pending frames (nil when there are none or a snapshot is being spliced in).
// The caller hands the slice back with recycle when it has written it.
func (q *queue) take() []item {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.held || q.closed || len(q.items) == 0 {
		return nil
	}
	batch := q.items
	q.items = q.spare[:0]
	q.spare = nil
	clear(q.keyed)
	return batch
}

// recycle gives a batch returned by take back for reuse.
func (q *queue) recycle(batch []item) {
	clear(batch) // drop references to frame bytes
	q.mu.Lock()
	if q.spare == nil {
		q.spare = batch[:0]
	}
	q.mu.Unlock()
}

// hold stops take from returning frames and returns the position where frames pushed from now
// on start. Used by subscribe: the subscription becomes visible to publishers, the snapshot is
// computed without locks, then release puts it in front of the changes that arrived meanwhile.
// Only one hold may be open at a time (a client's events are handled sequentially).
func (q *queue) hold() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.held = true
	return len(q.items)
}

// release inserts batch at mark (from hold) and lets the consumer continue. Snapshot frames count
// toward the limit only loosely: they are inserted even when the queue is full, since their
// number is bounded by the snapshot provider.
func (q *queue) release(mark int, batch []item) {
	q.mu.Lock()
	q.held = false
	if !q.closed && len(batch) > 0 {
		if mark > len(q.items) {
			mark = len(q.items)
		}
		q.items = slices.Insert(q.items, mark, batch...)
		for k, i := range q.keyed {
			if i >= mark {
				q.keyed[k] = i + len(batch)
			}
		}
	}
	q.mu.Unlock()
	q.signal()
}

// close discards pending frames and wakes the consumer. It is idempotent.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	q.items = nil
	close(q.done)
}

// len returns the number of pending frames.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
