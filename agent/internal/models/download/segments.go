package download

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

// The segment engine. The file is a list of segments, each a byte range with a synced prefix.
// A connection owns one segment at a time and asks for it in bounded pieces (never an
// open-ended range it would abandon, so no byte is fetched twice or past its segment). A
// connection needing work takes the first unowned segment or cuts the first segment with
// unrequested bytes at the end of its piece in flight, so pieces go out in file order; a
// connection told to retire finishes its piece and leaves its segment to the others. The
// number of connections adapts: one at first, multiplied while throughput keeps growing, up
// to MaxConnections.

const (
	// maxPiece bounds one request; windowPiece one request while several connections work
	// side by side (with pieces in file order, what the hasher reads back trails the
	// connections by about one piece each).
	maxPiece    = 256 << 20
	windowPiece = 32 << 20
	// connBuffers of connBufSize per connection rotate between the network, the disk side and
	// the hasher (8: a fast download was about a tenth slower with 4).
	connBuffers = 8
	connBufSize = 256 << 10
	// writebackChunk is how much a connection writes before starting its writeback;
	// evictLag is how far behind the hashed prefix the connections wait for that writeback
	// and evict the bytes from the page cache (see evictWritten).
	writebackChunk = 8 << 20
	evictLag       = 32 << 20
	// growth multiplies the connections at each step; minGain is the throughput gain that
	// justifies the connections just added (a host that throttles each connection gains about
	// the growth factor, one already at line rate only noise). Growing fourfold reaches 8
	// connections in two steps (a throttled host is at full speed after 8 intervals) while a
	// host that gains nothing goes back to one connection after 8.
	growth  = 4
	minGain = 0.5
)

// seg is a live segment: [start, end) (end < 0: up to the end of the body), done bytes from
// start written. reqEnd is where the piece in flight ends (-1: to the end of the body).
type seg struct {
	start, end int64
	done       atomic.Int64
	owned      bool
	reqEnd     int64
}

func (s *seg) next() int64 { return s.start + s.done.Load() }

func (s *seg) complete() bool { return s.end >= 0 && s.next() >= s.end }

// errChanged reports that the remote file is not the one the partial holds.
type changedError struct {
	validator string
	size      int64
	why       string
}

func (e *changedError) Error() string { return "the file changed on the server: " + e.why }

// engine runs the connections of one attempt over a.st's segments.
type engine struct {
	a        *attempt
	ctx      context.Context
	cancel   context.CancelCauseFunc
	hash     *hasher
	evicted  atomic.Int64 // the page cache holds none of the file below this (evictHashed)
	minPiece int64
	single   bool // no validator: one connection, the rest in one request

	mu       sync.Mutex
	segs     []*seg
	active   int
	target   int
	idle     chan struct{} // closed when the last connection leaves
	wg       sync.WaitGroup
	errs     []error
	maxConns int
	settled  bool // the connection count will not grow any more
	peak     int

	written atomic.Int64 // bytes written by this attempt
	// cpAt and savedAt are e.written at the snapshot of the last checkpoint begun and of the
	// last one saved; saved is closed (and replaced) at every save.
	cpAt, savedAt atomic.Int64
	saved         chan struct{}
	cpKick        chan struct{} // CheckpointBytes were written since the last checkpoint
	lastCP        time.Time     // owned by the checkpointer, then by segmented
}

// firstResponse is the probe's answer, the start of segment 0: its body serves the first
// piece, so learning the file costs no extra request.
type firstResponse struct {
	resp    *http.Response
	body    io.Reader
	release func()
	end     int64 // end of the range it carries (exclusive; -1: to the end of the body)
	ranged  bool  // the server answered with a range: more connections can help
}

// segmented fetches every missing byte of st's segments, hashing as it goes, and publishes.
// ctx and cancel are the attempt's: a stall cancels the probe's body too.
func (a *attempt) segmented(ctx context.Context, cancel context.CancelCauseFunc, first *firstResponse) (Result, error) {
	st := a.st
	o := a.d.opt
	e := &engine{a: a, minPiece: o.MinSegment, single: st.Validator == "", idle: make(chan struct{}), cpKick: make(chan struct{}, 1), saved: make(chan struct{})}
	for _, s := range st.Segments {
		sg := &seg{start: s.Start, end: s.End}
		sg.done.Store(s.Done)
		e.segs = append(e.segs, sg)
	}
	var remaining int64
	var written []span
	for _, s := range e.segs {
		if s.end >= 0 {
			remaining += s.end - s.next()
		}
		written = append(written, span{s.start, s.next()})
	}
	if first == nil && remaining > 0 {
		a.d.spaceMu.Lock()
		err := a.checkSpace(remaining)
		if err == nil {
			for _, s := range e.segs {
				if s.end >= 0 {
					a.reserve(s.next(), s.end-s.next())
				}
			}
		}
		a.d.spaceMu.Unlock()
		if err != nil {
			return Result{}, err
		}
	}
	h, hashed := a.restoreHash(written)
	e.hash = newHasher(a.f, h, hashed, written)
	e.evicted.Store(hashed)

	e.maxConns = 1
	if !e.single && st.Size >= o.ParallelMinSize && (first == nil || first.ranged) {
		e.maxConns = o.MaxConnections
	}
	e.target = min(max(o.InitialConnections, 1), e.maxConns)
	e.settled = e.maxConns <= 1
	e.ctx, e.cancel = ctx, cancel
	e.lastCP = o.Now()
	a.lastProgress, a.lastBytes = o.Now(), e.total()

	e.mu.Lock()
	e.spawn(first)
	e.spawnUpTo(e.target)
	e.mu.Unlock()
	e.wg.Add(1)
	go e.checkpointer()
	if e.maxConns > 1 {
		e.wg.Add(1)
		go e.adapt()
	}
	e.wg.Wait()
	// Everything is written: the final checkpoint records the whole hashed prefix.
	snap := e.hash.finish()
	cpErr := e.checkpoint(true, &snap)
	if err := firstReal(e.errs); err != nil {
		if errors.Is(err, ErrBadRange) {
			// One bad answer may be a proxy's glitch (the partial is kept); two in a row mean
			// the server's ranges cannot be trusted: start over.
			if st.BadRanges++; st.BadRanges >= 2 {
				return Result{}, &changedError{why: err.Error()}
			}
			if serr := a.save(); serr != nil {
				return Result{}, serr
			}
		}
		return Result{}, err
	}
	if cpErr != nil {
		return Result{}, cpErr
	}
	size := st.Size
	for _, s := range e.segs {
		if !s.complete() && s.end >= 0 {
			return Result{}, &Error{Class: recovery.ClassNetwork, Err: fmt.Errorf("%w: byte %d of %d missing", ErrShortBody, s.next(), size)}
		}
	}
	if size < 0 { // the body's end told the size
		size = e.segs[len(e.segs)-1].next()
		st.Size = size
	}
	if snap.err != nil {
		return Result{}, classify(ClassOf(snap.err), false, snap.err)
	}
	res, err := a.finish(snap.h, snap.n)
	res.Connections = e.peak
	return res, err
}

// restoreHash returns the sha256 state the checkpoint saved, or a fresh one at 0 when it is
// missing, unusable, or ahead of the contiguous bytes on disk.
func (a *attempt) restoreHash(written []span) (hashState, int64) {
	st := a.st
	var contiguous int64
	for _, s := range written {
		if s.start > contiguous {
			break
		}
		contiguous = max(contiguous, s.end)
	}
	if st.Offset > 0 && st.Offset <= contiguous && len(st.Hash) > 0 {
		if h, err := newHash(st.Hash); err == nil {
			return h, st.Offset
		}
	}
	h, _ := newHash(nil)
	return h, 0
}

func (f *firstResponse) close() {
	f.resp.Body.Close()
	f.release()
}

// total is the number of bytes on disk.
func (e *engine) total() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n int64
	for _, s := range e.segs {
		n += s.done.Load()
	}
	return n
}

// spawnUpTo starts connections until n are active; e.mu is held.
func (e *engine) spawnUpTo(n int) {
	for e.active < n {
		e.spawn(nil)
	}
}

// spawn starts one connection (serving first, when given); e.mu is held.
func (e *engine) spawn(first *firstResponse) {
	e.active++
	e.peak = max(e.peak, e.active)
	e.wg.Add(1)
	var own *seg
	if first != nil {
		own = e.segs[0]
		own.owned, own.reqEnd = true, first.end
	}
	go func() {
		defer e.wg.Done()
		if err := e.conn(own, first); err != nil {
			e.mu.Lock()
			e.errs = append(e.errs, err)
			e.mu.Unlock()
			e.cancel(err)
		}
	}()
}

// leave is a connection going away; e.mu is held.
func (e *engine) leave(s *seg) {
	if s != nil {
		s.owned = false
	}
	e.active--
	if e.active == 0 {
		close(e.idle)
	}
}

// conn is one connection: it fetches pieces of its segment, then of segments it takes over,
// until no work is left, it is told to retire, or an error ends the attempt.
func (e *engine) conn(own *seg, first *firstResponse) error {
	pool := make(chan []byte, connBuffers)
	for range connBuffers {
		pool <- make([]byte, connBufSize)
	}
	for {
		var err error
		if first != nil {
			err = e.stream(first.body, own, own.next(), first.end, pool)
			first.close()
			first = nil
		} else {
			s, from, to := e.assign(own)
			if s == nil {
				return nil
			}
			own = s
			err = e.fetch(s, from, to, pool)
		}
		if err != nil {
			e.mu.Lock()
			e.leave(own)
			e.mu.Unlock()
			return err
		}
	}
}

// assign gives a connection its next piece [from, to) (to < 0: to the end of the body): more
// of its own segment, an unowned one, or the second half of the largest unrequested remainder.
// A nil segment tells the connection to leave.
func (e *engine) assign(own *seg) (*seg, int64, int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx.Err() != nil || e.active > e.target {
		e.leave(own)
		return nil, 0, 0
	}
	if own == nil || own.complete() {
		if own != nil {
			own.owned = false
		}
		own = nil
		for _, s := range e.segs {
			if !s.owned && !s.complete() {
				own = s
				break
			}
		}
		if own == nil {
			own = e.split()
		}
		if own == nil {
			e.leave(nil)
			return nil, 0, 0
		}
		own.owned = true
	}
	from := own.next()
	to := own.end
	if to >= 0 && !e.single {
		// A piece is a share of what is left to ask for, so the last pieces of all connections
		// end close together instead of one long piece holding the tail. While connections
		// may still be added the share is that of the most there may be.
		n, most := e.target, int64(maxPiece)
		if !e.settled {
			n = e.maxConns
		}
		if n > 1 {
			most = windowPiece
		}
		piece := min(max(e.minPiece, e.unrequested()/int64(2*n)), most)
		to = min(to, from+piece)
	}
	own.reqEnd = to
	return own, from, to
}

// unrequested is the number of bytes no connection has asked for yet; e.mu is held.
func (e *engine) unrequested() int64 {
	var n int64
	for _, s := range e.segs {
		switch {
		case s.end < 0:
		case s.owned && s.reqEnd >= 0:
			n += s.end - max(s.reqEnd, s.next())
		default:
			n += s.end - s.next()
		}
	}
	return n
}

// split gives a new connection the next bytes in file order: it cuts the first owned segment
// with at least MinSegment unrequested at the end of its piece in flight and returns the cut-off
// rest; nil when no remainder is worth a connection. Keeping every connection near the front
// keeps the hashed prefix close behind the bytes on disk, so little is read back at the end.
func (e *engine) split() *seg {
	if e.single {
		return nil
	}
	for i, s := range e.segs {
		if !s.owned || s.end < 0 || s.reqEnd < 0 {
			continue
		}
		cut := max(s.reqEnd, s.next())
		if s.end-cut < e.minPiece {
			continue
		}
		ns := &seg{start: cut, end: s.end, reqEnd: cut}
		s.end = cut
		e.segs = append(e.segs[:i+1], append([]*seg{ns}, e.segs[i+1:]...)...)
		return ns
	}
	return nil
}

// fetch requests [from, to) of s, checks the answer against the checkpoint and streams it.
func (e *engine) fetch(s *seg, from, to int64, pool chan []byte) error {
	a := e.a
	lease, err := a.d.opt.Hosts.Acquire(e.ctx, hostOf(a.req.URL))
	if err != nil {
		return err
	}
	defer lease.Release()
	resp, _, err := a.get(e.ctx, from, to, a.st.Validator)
	if err != nil {
		lease.Report(err)
		return err
	}
	defer resp.Body.Close()
	end, err := a.checkResponse(resp, from, to)
	lease.Report(err)
	if err != nil {
		return err
	}
	return e.stream(resp.Body, s, from, end, pool)
}

// stream receives body, the bytes [from, to) of s (to < 0: up to the end of the body), and
// hands them to its disk side, which writes, hashes and checkpoints on the way. The stall clock
// runs only while the connection waits on the server: waiting for a free buffer is waiting for
// our own disk or hasher.
func (e *engine) stream(body io.Reader, s *seg, from, to int64, pool chan []byte) (err error) {
	o := e.a.d.opt
	stall := time.AfterFunc(o.StallTimeout, func() { e.cancel(ErrStalled) })
	defer stall.Stop()
	disk := e.startDiskSide(s, from, pool)
	defer func() {
		if derr := disk.close(); derr != nil {
			err = derr // the disk failed first: the network half stopped for it
		}
	}()
	off := from
	for to < 0 || off < to {
		if disk.failed.Load() {
			return nil // close reports it
		}
		buf, ok := e.freeBuffer(pool, stall)
		if !ok {
			return e.stopped(off)
		}
		want := int64(len(buf))
		if to >= 0 {
			want = min(want, to-off)
		}
		m, rerr := fill(body, buf[:want], stall, o.StallTimeout)
		if m > 0 {
			disk.write(off, buf[:m])
			off += int64(m)
		} else {
			pool <- buf
		}
		switch {
		case rerr == nil, to >= 0 && off >= to && rerr == io.EOF:
		case rerr == io.EOF && to < 0:
			if err := disk.close(); err != nil {
				return err
			}
			e.mu.Lock()
			s.end = off // the body's end is the file's end
			e.mu.Unlock()
			return nil
		case rerr == io.EOF || errors.Is(rerr, io.ErrUnexpectedEOF):
			return &Error{Class: recovery.ClassNetwork, Err: fmt.Errorf("%w: connection closed at byte %d, expected %d", ErrShortBody, off, to)}
		case e.ctx.Err() != nil:
			return e.stopped(off)
		default:
			return classify(recovery.ClassNetwork, false, fmt.Errorf("read body at byte %d: %w", off, rerr))
		}
	}
	// Read the (empty) rest so the connection goes back to the pool; a body that goes on
	// past the range asked for is closed instead.
	var one [1]byte
	body.Read(one[:])
	return nil
}

// freeBuffer takes a buffer from pool, stopping the stall clock while it waits; false: the
// engine stopped meanwhile.
func (e *engine) freeBuffer(pool chan []byte, stall *time.Timer) ([]byte, bool) {
	select {
	case b := <-pool:
		return b, true
	default:
	}
	stall.Stop()
	defer stall.Reset(e.a.d.opt.StallTimeout)
	select {
	case b := <-pool:
		return b, true
	case <-e.ctx.Done():
		return nil, false
	}
}

// evictHashed evicts from the page cache what lies evictLag below the hashed prefix (see
// evictWritten): bytes the hasher will never read back. One connection claims each range.
func (e *engine) evictHashed() {
	if e.a.d.opt.KeepCached {
		return
	}
	from := e.evicted.Load()
	end := e.hash.prefix.Load() - evictLag
	if end-from < writebackChunk || !e.evicted.CompareAndSwap(from, end) {
		return
	}
	evictWritten(e.a.f, from, end-from)
}

// paced asks for a checkpoint once half of CheckpointBytes is unsaved and, should the
// checkpointer fall behind by CheckpointBytes, waits for it: a kill -9 never costs more than
// one checkpoint's worth, and connections wait only on a disk slower than the network.
func (e *engine) paced(off int64) error {
	limit := e.a.d.opt.CheckpointBytes
	for {
		if e.written.Load()-e.cpAt.Load() >= limit/2 {
			select {
			case e.cpKick <- struct{}{}:
			default:
			}
		}
		e.mu.Lock()
		saved := e.saved
		e.mu.Unlock()
		if e.written.Load()-e.savedAt.Load() < limit {
			return nil
		}
		select {
		case <-saved:
		case <-e.ctx.Done():
			return e.stopped(off)
		}
	}
}

// stopped is the error of a connection whose engine context ended at byte off: a stall (of
// this connection or another) is a timeout, retried; anything else is a cancellation.
func (e *engine) stopped(off int64) error {
	if errors.Is(context.Cause(e.ctx), ErrStalled) {
		return &Error{Class: recovery.ClassTimeout, Err: fmt.Errorf("%w (%s) at byte %d", ErrStalled, e.a.d.opt.StallTimeout, off)}
	}
	return classify(recovery.ClassCancelled, true, context.Cause(e.ctx))
}

// fill reads until b is full or the body fails, resetting the stall timer on every read.
func fill(r io.Reader, b []byte, stall *time.Timer, timeout time.Duration) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		if m > 0 {
			stall.Reset(timeout)
		}
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// checkpoint makes progress durable: it snapshots the hash, then the segments, then fsyncs,
// then saves, so what is saved never exceeds what is on disk. Without force it only reports
// progress unless CheckpointInterval or CheckpointBytes have passed. The final checkpoint
// passes the hasher's last snapshot (the hasher has stopped).
func (e *engine) checkpoint(force bool, final *hashSnapshot) error {
	a, o := e.a, e.a.d.opt
	now := o.Now()
	if !force && now.Sub(e.lastCP) < o.CheckpointInterval && e.written.Load()-e.cpAt.Load() < o.CheckpointBytes/2 {
		a.report(e.total(), a.st.Size, false)
		return nil
	}
	var hs hashSnapshot
	if final != nil {
		hs = *final
		hs.state, _ = final.h.MarshalBinary()
	} else {
		hs = e.hash.snapshot()
	}
	w := e.written.Load() // before the segments: they hold at least these bytes
	e.cpAt.Store(w)
	e.mu.Lock()
	var segs []Segment
	var total int64
	for _, s := range e.segs {
		sg := Segment{Start: s.start, End: s.end, Done: s.done.Load()}
		total += sg.Done
		// Adjacent complete segments are saved as one.
		if k := len(segs) - 1; k >= 0 && segs[k].End == sg.Start && segs[k].Done == segs[k].End-segs[k].Start && sg.End >= 0 && sg.Done == sg.End-sg.Start {
			segs[k].End, segs[k].Done = sg.End, segs[k].Done+sg.Done
			continue
		}
		segs = append(segs, sg)
	}
	e.mu.Unlock()
	if err := a.f.Sync(); err != nil {
		return classify(ClassOf(err), false, fmt.Errorf("sync partial: %w", err))
	}
	a.st.Segments, a.st.Offset, a.st.Hash = segs, hs.n, hs.state
	e.lastCP = now
	a.report(total, a.st.Size, force)
	if err := a.save(); err != nil {
		return err
	}
	e.savedAt.Store(w)
	e.mu.Lock()
	close(e.saved)
	e.saved = make(chan struct{})
	e.mu.Unlock()
	return nil
}

// checkpointer runs the checkpoints and progress reports off the connections' path, so no
// connection waits for an fsync.
func (e *engine) checkpointer() {
	defer e.wg.Done()
	t := time.NewTicker(e.a.d.opt.ProgressInterval)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.idle:
			return
		case <-e.cpKick:
		case <-t.C:
		}
		if err := e.checkpoint(false, nil); err != nil {
			e.mu.Lock()
			e.errs = append(e.errs, err)
			e.mu.Unlock()
			e.cancel(err)
			return
		}
	}
}

// adapt tunes the number of connections every AdaptInterval from the measured throughput.
func (e *engine) adapt() {
	defer e.wg.Done()
	t := time.NewTicker(e.a.d.opt.AdaptInterval)
	defer t.Stop()
	ad := &adapter{max: e.maxConns, target: e.target, fast: e.a.d.opt.FastConnection, warm: true}
	last, lastAt, lastBusy := e.written.Load(), time.Now(), e.hash.busy.Load()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.idle:
			return
		case now := <-t.C:
			n, busy := e.written.Load(), e.hash.busy.Load()
			el := now.Sub(lastAt)
			rate := float64(n-last) / el.Seconds()
			e.mu.Lock()
			if e.active == 0 {
				e.mu.Unlock()
				return
			}
			last, lastAt, lastBusy = n, now, busy
			e.target = ad.next(rate, float64(busy-lastBusy)/float64(el))
			e.settled = ad.settled
			e.spawnUpTo(e.target)
			e.mu.Unlock()
		}
	}
}

// adapter decides the connection count from throughput samples: it multiplies the
// connections by growth while the last step gained at least minGain, returns to the previous
// count when it did not, and then stays, trying again after reprobeAfter samples (the host may
// have changed, or a noisy measurement undone a good step). Each measurement is the mean of
// adaptSamples samples; the first sample and the one right after a change are skipped (they
// include connection set-up). A measurement whose rate per connection is at least fast
// (when fast > 0) settles at once: such a host does not throttle each connection. So does one
// during which the hasher was busy at least hashBound of the time: the hash (the CPU) is then
// the limit, and more connections would only add bytes it must read back.
type adapter struct {
	max, target int
	fast        float64 // per-connection rate that settles (<= 0: none)
	prev        int     // the count before the last change (0: no baseline yet)
	prevRate    float64 // throughput at prev
	warm        bool    // skip the next sample
	sum         float64 // of the samples of the measurement under way
	busySum     float64 // of their hasher-busy fractions
	n           int
	settled     bool // not trying more connections now
	idle        int  // samples since settling
}

const (
	adaptSamples = 3
	reprobeAfter = 20
	hashBound    = 0.5
)

// next takes the throughput of the last interval and the fraction of it the hasher was busy,
// and returns the connection target.
func (c *adapter) next(rate, hashBusy float64) int {
	if c.max <= 1 {
		return c.target
	}
	if c.settled {
		if c.target >= c.max {
			return c.target
		}
		if c.idle++; c.idle < reprobeAfter {
			return c.target
		}
		c.settled, c.idle, c.prev, c.sum, c.busySum, c.n = false, 0, 0, 0, 0, 0
	}
	if c.warm {
		c.warm = false
		return c.target
	}
	c.sum += rate
	c.busySum += hashBusy
	if c.n++; c.n < adaptSamples {
		return c.target
	}
	mean, busy := c.sum/float64(c.n), c.busySum/float64(c.n)
	c.sum, c.busySum, c.n = 0, 0, 0
	if c.prev == 0 || mean >= c.prevRate*(1+minGain) {
		c.prev, c.prevRate = c.target, mean
		if c.target >= c.max || (c.fast > 0 && mean/float64(c.target) >= c.fast) || busy >= hashBound {
			c.settled = true
			return c.target
		}
		c.target, c.warm = min(c.max, c.target*growth), true
		return c.target
	}
	c.target, c.settled = c.prev, true
	return c.target
}

// firstReal prefers the error that caused the cancellation over the cancellations it caused.
func firstReal(errs []error) error {
	var fallback error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if ClassOf(err) != recovery.ClassCancelled {
			return err
		}
		fallback = err
	}
	return fallback
}
