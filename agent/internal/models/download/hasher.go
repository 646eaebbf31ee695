package download

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// hasher keeps the sha256 of the file's contiguous prefix while segments arrive, so publishing
// needs no second pass over the file. Bytes written at the frontier are hashed from the
// writer's buffer; bytes written ahead of it (other connections' segments) are only recorded
// and read back from the page cache once the frontier reaches them. One goroutine owns the
// hash state; writers hand it chunks and never wait behind a long read-back, because the
// loop serves queued chunks between read-back slices.
type hasher struct {
	f     File
	h     hashState
	n     int64  // length of the hashed prefix
	spans []span // written but not yet hashed, beyond n; sorted and disjoint
	buf   []byte // read-back buffer
	err   error  // first read-back failure; hashing stops there
	// busy is the time spent hashing and reading back (ns), for the connection adapter: a
	// hasher busy most of the time is the download's limit.
	busy atomic.Int64
	// prefix mirrors n for the connections, which evict from the page cache only what lies
	// below it: the hasher never reads those bytes back.
	prefix atomic.Int64

	in   chan hashChunk
	snap chan chan hashSnapshot
	out  chan hashSnapshot
}

// span is the byte range [start, end).
type span struct{ start, end int64 }

// hashChunk is b written at off; b goes back to pool once hashed (or at once when it lies
// ahead of the frontier: it is on disk and will be read back).
type hashChunk struct {
	off  int64
	b    []byte
	pool chan []byte
}

// hashSnapshot is the hashed prefix length and the state there (marshalled for checkpoints,
// live for the final sum).
type hashSnapshot struct {
	n     int64
	state []byte
	h     hashState
	err   error
}

const readBackSize = 1 << 20

// newHasher starts a hasher at prefix n with state h; written are the ranges already on disk
// (from the checkpoint), of which those beyond n will be read back.
func newHasher(f File, h hashState, n int64, written []span) *hasher {
	p := &hasher{f: f, h: h, n: n, in: make(chan hashChunk, 64), snap: make(chan chan hashSnapshot), out: make(chan hashSnapshot, 1)}
	p.prefix.Store(n)
	for _, s := range written {
		if s.end > n {
			p.add(max(s.start, n), s.end)
		}
	}
	go p.loop()
	return p
}

// wrote hands the hasher b, just written at off.
func (p *hasher) wrote(off int64, b []byte, pool chan []byte) {
	p.in <- hashChunk{off: off, b: b, pool: pool}
}

// snapshot returns the hashed prefix and its marshalled state (for a checkpoint).
func (p *hasher) snapshot() hashSnapshot {
	r := make(chan hashSnapshot)
	p.snap <- r
	return <-r
}

// finish waits until every chunk handed over and every contiguous recorded span is hashed,
// and returns the prefix and the live state. No wrote or snapshot may follow.
func (p *hasher) finish() hashSnapshot {
	close(p.in)
	return <-p.out
}

func (p *hasher) loop() {
	in := p.in
	for {
		if p.err == nil && len(p.spans) > 0 && p.spans[0].start == p.n {
			t := time.Now()
			p.readBack()
			p.busy.Add(int64(time.Since(t)))
			select { // serve writers between slices
			case c, ok := <-in:
				if !ok {
					in = nil
				} else {
					p.take(c)
				}
			case r := <-p.snap:
				r <- p.state()
			default:
			}
			continue
		}
		if in == nil {
			p.out <- hashSnapshot{n: p.n, h: p.h, err: p.err}
			return
		}
		select {
		case c, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			p.take(c)
		case r := <-p.snap:
			r <- p.state()
		}
	}
}

// state answers a snapshot, first taking the chunks already handed over so the snapshot
// trails the bytes written by as little as possible.
func (p *hasher) state() hashSnapshot {
	for drained := false; !drained; {
		select {
		case c, ok := <-p.in:
			if !ok {
				drained = true
				break
			}
			p.take(c)
		default:
			drained = true
		}
	}
	b, _ := p.h.MarshalBinary()
	return hashSnapshot{n: p.n, state: b, err: p.err}
}

func (p *hasher) take(c hashChunk) {
	end := c.off + int64(len(c.b))
	switch {
	case p.err != nil || end <= p.n:
	case c.off == p.n:
		t := time.Now()
		p.h.Write(c.b)
		p.busy.Add(int64(time.Since(t)))
		p.n = end
		p.prefix.Store(end)
	default:
		p.add(c.off, end)
	}
	c.pool <- c.b[:cap(c.b)]
}

// add records [start, end) as written, merging it with its neighbours.
func (p *hasher) add(start, end int64) {
	i := 0
	for i < len(p.spans) && p.spans[i].end < start {
		i++
	}
	j := i
	for j < len(p.spans) && p.spans[j].start <= end {
		start, end = min(start, p.spans[j].start), max(end, p.spans[j].end)
		j++
	}
	p.spans = append(p.spans[:i], append([]span{{start, end}}, p.spans[j:]...)...)
}

// readBack hashes one slice of the span at the frontier from the file.
func (p *hasher) readBack() {
	if p.buf == nil {
		p.buf = make([]byte, readBackSize)
	}
	s := &p.spans[0]
	n := min(s.end-s.start, int64(len(p.buf)))
	m, err := p.f.ReadAt(p.buf[:n], s.start)
	if int64(m) < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		p.err = fmt.Errorf("read back partial at byte %d: %w", s.start, err)
		return
	}
	p.h.Write(p.buf[:n])
	p.n += n
	p.prefix.Store(p.n)
	s.start += n
	if s.start >= s.end {
		p.spans = p.spans[1:]
	}
}
