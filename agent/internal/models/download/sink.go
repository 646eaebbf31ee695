package download

import "sync/atomic"

// sink writes and hashes body chunks on its own goroutine so the network read of the next
// chunk overlaps the disk write and the sha256 of the previous one (a single-stream download is
// otherwise bound by read + write + hash in series). Buffers rotate through free; barrier waits
// until every queued chunk is on disk and in the hash, so checkpoints see a consistent state.
type sink struct {
	f    File
	h    hashState
	free chan []byte
	work chan chunk
	done chan struct{}

	failed  atomic.Bool
	err     error // written by the worker, read after a barrier
	written int64 // end offset of the last chunk written and hashed
}

type chunk struct {
	buf []byte
	n   int
	off int64
	ack chan struct{}
}

const sinkBuffers = 4

func newSink(f File, h hashState, offset int64, bufSize int) *sink {
	s := &sink{f: f, h: h, free: make(chan []byte, sinkBuffers), work: make(chan chunk, sinkBuffers), done: make(chan struct{}), written: offset}
	for range sinkBuffers {
		s.free <- make([]byte, bufSize)
	}
	go s.loop()
	return s
}

func (s *sink) loop() {
	defer close(s.done)
	for c := range s.work {
		if c.ack != nil {
			close(c.ack)
			continue
		}
		if s.err == nil {
			if _, err := s.f.WriteAt(c.buf[:c.n], c.off); err != nil {
				s.err = err
				s.failed.Store(true)
			} else {
				s.h.Write(c.buf[:c.n])
				s.written = c.off + int64(c.n)
			}
		}
		s.free <- c.buf
	}
}

// buffer returns a free buffer to read into.
func (s *sink) buffer() []byte { return <-s.free }

// submit queues buf[:n] for offset off; buf goes back to the free list afterwards.
func (s *sink) submit(buf []byte, n int, off int64) { s.work <- chunk{buf: buf, n: n, off: off} }

// release returns an unused buffer.
func (s *sink) release(buf []byte) { s.free <- buf }

// barrier waits for the queue to drain and returns the durable-so-far offset and the first
// write error.
func (s *sink) barrier() (int64, error) {
	ack := make(chan struct{})
	s.work <- chunk{ack: ack}
	<-ack
	return s.written, s.err
}

func (s *sink) close() {
	close(s.work)
	<-s.done
}
