package download

import "sync/atomic"

// diskSide is the disk half of one piece's stream: it writes each buffer the network half
// received, hands it to the hasher, starts writeback, evicts and paces, on its own goroutine,
// so receiving the next bytes overlaps writing these (a connection's reads and writes are each
// about a third of a fast download's CPU). A segment's done count moves only once its bytes
// are written, so a checkpoint never claims bytes still in flight. After the first error the
// buffers go back to the pool unwritten; the network half sees failed and stops.
type diskSide struct {
	e       *engine
	s       *seg
	pool    chan []byte
	in      chan diskWrite
	done    chan struct{}
	flushed int64 // start of the bytes not yet handed to writeback
	err     error // the first failure; read after done is closed
	failed  atomic.Bool
	closed  bool // owned by the network half
}

// diskWrite is b, received for the file at off.
type diskWrite struct {
	off int64
	b   []byte
}

func (e *engine) startDiskSide(s *seg, from int64, pool chan []byte) *diskSide {
	d := &diskSide{e: e, s: s, pool: pool, in: make(chan diskWrite, cap(pool)), done: make(chan struct{}), flushed: from}
	go d.loop()
	return d
}

// write queues b (a buffer of pool) for the file at off.
func (d *diskSide) write(off int64, b []byte) { d.in <- diskWrite{off, b} }

// close waits until every queued buffer is written (or dropped after a failure) and returns
// the first failure; closing again returns it again.
func (d *diskSide) close() error {
	if !d.closed {
		d.closed = true
		close(d.in)
		<-d.done
	}
	return d.err
}

func (d *diskSide) loop() {
	defer close(d.done)
	for w := range d.in {
		if d.err != nil {
			d.pool <- w.b[:cap(w.b)]
			continue
		}
		if err := d.put(w); err != nil {
			d.err = err
			d.failed.Store(true)
		}
	}
}

func (d *diskSide) put(w diskWrite) error {
	e, f := d.e, d.e.a.f
	if _, err := f.WriteAt(w.b, w.off); err != nil {
		d.pool <- w.b[:cap(w.b)]
		return writeError(err)
	}
	n := int64(len(w.b))
	d.s.done.Add(n)
	e.hash.wrote(w.off, w.b, d.pool)
	e.written.Add(n)
	if end := w.off + n; end-d.flushed >= writebackChunk {
		startWriteback(f, d.flushed, end-d.flushed)
		d.flushed = end
		e.evictHashed()
	}
	return e.paced(w.off + n)
}
