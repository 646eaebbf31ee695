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
)

// firstResponse is the open 206 for bytes=0- that revealed a large, range-capable file; it
// serves segment 0 so the probe costs no extra request.
type firstResponse struct {
	body io.Reader
	resp *http.Response
}

var errRangeLost = errors.New("server stopped honouring byte ranges (or the file changed) mid-download")

// initSegments splits [0,total) into one segment per connection.
func (a *attempt) initSegments(total int64) {
	k := int64(a.d.opt.Connections)
	step := (total + k - 1) / k
	a.st.Segments = nil
	for start := int64(0); start < total; start += step {
		a.st.Segments = append(a.st.Segments, Segment{Start: start, End: min(start+step, total)})
	}
}

// segmented fetches the missing bytes of every segment in parallel, checkpointing all segments'
// synced lengths together, then hashes the whole file and publishes it.
func (a *attempt) segmented(ctx context.Context, first *firstResponse) (Result, error) {
	st := a.st
	fi, err := a.f.Stat()
	if err != nil {
		return Result{}, classify(ClassOf(err), false, fmt.Errorf("stat partial: %w", err))
	}
	if fi.Size() != st.Size {
		if err := a.f.Truncate(st.Size); err != nil {
			return Result{}, classify(ClassOf(err), false, fmt.Errorf("size partial: %w", err))
		}
	}
	var remaining int64
	done := make([]atomic.Int64, len(st.Segments))
	for i, s := range st.Segments {
		done[i].Store(s.Done)
		remaining += s.End - s.Start - s.Done
	}
	// A first response means handle() already checked and reserved the whole file.
	if first == nil {
		a.d.spaceMu.Lock()
		err := a.checkSpace(remaining)
		if err == nil {
			for _, s := range st.Segments {
				a.reserve(s.Start+s.Done, s.End-s.Start-s.Done)
			}
		}
		a.d.spaceMu.Unlock()
		if err != nil {
			return Result{}, err
		}
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var cpMu sync.Mutex
	lastCP := a.d.opt.Now()
	var sinceCP atomic.Int64
	total := func() int64 {
		var n int64
		for i := range done {
			n += done[i].Load()
		}
		return n
	}
	// checkpoint snapshots the counters, then fsyncs, then saves the snapshot: the saved counts
	// never exceed what is on disk.
	checkpoint := func(force bool) error {
		cpMu.Lock()
		defer cpMu.Unlock()
		now := a.d.opt.Now()
		if !force && now.Sub(lastCP) < a.d.opt.CheckpointInterval && sinceCP.Load() < a.d.opt.CheckpointBytes {
			a.report(total(), st.Size, false)
			return nil
		}
		snap := make([]int64, len(done))
		for i := range done {
			snap[i] = done[i].Load()
		}
		if err := a.f.Sync(); err != nil {
			return classify(ClassOf(err), false, fmt.Errorf("sync partial: %w", err))
		}
		for i := range snap {
			st.Segments[i].Done = snap[i]
		}
		lastCP = now
		sinceCP.Store(0)
		a.report(total(), st.Size, force)
		return a.save()
	}
	a.lastProgress, a.lastBytes = a.d.opt.Now(), total()

	errs := make([]error, len(st.Segments))
	var wg sync.WaitGroup
	for i := range st.Segments {
		if done[i].Load() >= st.Segments[i].End-st.Segments[i].Start {
			continue
		}
		var fr *firstResponse
		if i == 0 {
			fr = first
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := a.segment(ctx, cancel, i, &done[i], fr, &sinceCP, checkpoint)
			if err != nil {
				errs[i] = err
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := checkpoint(true); err != nil {
		return Result{}, err
	}
	if err := firstReal(errs); err != nil {
		if errors.Is(err, errRangeLost) {
			st.Restarts++
			if err := a.discard(); err != nil {
				return Result{}, err
			}
			if st.Restarts > a.d.opt.MaxRestarts {
				return Result{}, &Error{Class: ClassIntegrity, Permanent: true, Err: fmt.Errorf("%w: restarted %d times", ErrTooManyRetry, st.Restarts-1)}
			}
		}
		return Result{}, err
	}
	h, err := hashPrefix(a.f, st.Size)
	if err != nil {
		return Result{}, classify(ClassOf(err), false, err)
	}
	return a.finish(h, st.Size)
}

// firstReal prefers the error that caused the cancellation over the cancellations it caused.
func firstReal(errs []error) error {
	var fallback error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if ClassOf(err) != ClassCancelled {
			return err
		}
		fallback = err
	}
	return fallback
}

// segment downloads the rest of segment i.
func (a *attempt) segment(ctx context.Context, cancel context.CancelCauseFunc, i int, done *atomic.Int64, first *firstResponse, sinceCP *atomic.Int64, checkpoint func(bool) error) error {
	st := a.st
	seg := st.Segments[i]
	from := seg.Start + done.Load()
	var body io.Reader
	if first != nil {
		body = first.body
	} else {
		host := hostOf(a.req.URL)
		release, err := a.d.opt.Hosts.Acquire(ctx, host)
		if err != nil {
			return err
		}
		defer release()
		resp, _, err := a.get(ctx, from, seg.End-1, st.Validator)
		if err != nil {
			a.d.opt.Hosts.Report(host, err)
			return err
		}
		defer resp.Body.Close()
		if err := checkSegmentResponse(resp, from, st.Size, a.d.opt.Now()); err != nil {
			a.d.opt.Hosts.Report(host, err)
			return err
		}
		a.d.opt.Hosts.Report(host, nil)
		body = resp.Body
	}

	stall := time.AfterFunc(a.d.opt.StallTimeout, func() { cancel(ErrStalled) })
	defer stall.Stop()
	buf := make([]byte, 1<<20)
	for from < seg.End {
		want := min(int64(len(buf)), seg.End-from)
		m, rerr := body.Read(buf[:want])
		if m > 0 {
			stall.Reset(a.d.opt.StallTimeout)
			if _, werr := a.f.WriteAt(buf[:m], from); werr != nil {
				return writeError(werr)
			}
			from += int64(m)
			done.Add(int64(m))
			sinceCP.Add(int64(m))
			if err := checkpoint(false); err != nil {
				return err
			}
		}
		if rerr == io.EOF && from < seg.End {
			return &Error{Class: ClassNetwork, Err: fmt.Errorf("%w: segment %d ended at byte %d of %d", ErrShortBody, i, from, seg.End)}
		}
		if rerr != nil && rerr != io.EOF {
			if errors.Is(context.Cause(ctx), ErrStalled) {
				return &Error{Class: ClassTimeout, Err: fmt.Errorf("%w (%s) in segment %d", ErrStalled, a.d.opt.StallTimeout, i)}
			}
			if ctx.Err() != nil {
				return classify(ClassCancelled, true, context.Cause(ctx))
			}
			return &Error{Class: ClassNetwork, Err: fmt.Errorf("segment %d: read body: %w", i, rerr)}
		}
	}
	return nil
}

// checkSegmentResponse accepts only a 206 that starts exactly at from with the saved total.
func checkSegmentResponse(resp *http.Response, from, size int64, now time.Time) error {
	switch {
	case resp.StatusCode == http.StatusOK:
		return &Error{Class: ClassNetwork, Status: 200, Err: errRangeLost}
	case resp.StatusCode != http.StatusPartialContent:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return statusError(resp, now)
	}
	cr := resp.Header.Get("Content-Range")
	start, _, total, ok := contentRange(cr)
	if !ok || start != from || total != size {
		return &Error{Class: ClassNetwork, Status: 206, Err: fmt.Errorf("%w: asked for byte %d, got Content-Range %q", ErrBadRange, from, cr)}
	}
	return nil
}
