package download

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// attempt is one Fetch: the open partial, the state and the progress bookkeeping.
type attempt struct {
	d        *Downloader
	req      Request
	cp       Checkpointer
	f        File
	st       *State
	progress func(Progress)

	lastProgress time.Time
	lastBytes    int64
}

type redirectKey struct{}

// redirectInfo collects headers of redirect responses: HuggingFace puts X-Linked-Etag and
// X-Linked-Size on the 302 from huggingface.co, not on the CDN's final answer.
type redirectInfo struct{ linkedETag, linkedSize string }

func (d *Downloader) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if ri, ok := req.Context().Value(redirectKey{}).(*redirectInfo); ok && req.Response != nil {
		if v := req.Response.Header.Get("X-Linked-Etag"); v != "" {
			ri.linkedETag = v
		}
		if v := req.Response.Header.Get("X-Linked-Size"); v != "" {
			ri.linkedSize = v
		}
	}
	// Credentials belong to the host they were configured for; a CDN never gets them.
	if req.URL.Host != via[0].URL.Host && d.opt.Credentials != nil {
		if c, ok := d.opt.Credentials(via[0].URL.Hostname()); ok {
			req.Header.Del(c.Header)
		}
		req.Header.Del("Authorization")
	}
	return nil
}

// get sends a GET for the byte range [from, to] (to < 0: open-ended; from == 0 && to < 0 with
// ranged false: no Range header), conditional on validator.
func (a *attempt) get(ctx context.Context, from, to int64, validator string) (*http.Response, *redirectInfo, error) {
	ri := &redirectInfo{}
	ctx = context.WithValue(ctx, redirectKey{}, ri)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.req.URL, nil)
	if err != nil {
		return nil, nil, classify(ClassUnknown, true, fmt.Errorf("bad download URL: %w", err))
	}
	for k, v := range a.req.Header {
		req.Header[k] = v
	}
	// Offsets must refer to the identity representation (CloudFront + gzip breaks ranges).
	req.Header.Set("Accept-Encoding", "identity")
	if a.d.opt.UserAgent != "" {
		req.Header.Set("User-Agent", a.d.opt.UserAgent)
	}
	if a.d.opt.Credentials != nil {
		if c, ok := a.d.opt.Credentials(req.URL.Hostname()); ok {
			req.Header.Set(c.Header, c.Value)
		}
	}
	if to >= 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to))
	} else {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", from))
	}
	if validator != "" {
		req.Header.Set("If-Range", validator)
	}
	resp, err := a.d.client.Do(req)
	if err != nil {
		return nil, nil, classify(ClassOf(err), IsPermanent(err), fmt.Errorf("request %s: %w", redact(req.URL), err))
	}
	return resp, ri, nil
}

// redact drops the query (signed URLs, CivitAI ?token=) from URLs that reach errors and logs.
func redact(u *url.URL) string {
	c := *u
	c.RawQuery, c.User = "", nil
	return c.String()
}

// contentRange parses "bytes a-b/T" (T may be *: -1) or "bytes */T" (a = -1).
func contentRange(v string) (start, end, total int64, ok bool) {
	v, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(v, "/")
	if !found {
		return 0, 0, 0, false
	}
	total = -1
	if tot != "*" {
		t, err := strconv.ParseInt(tot, 10, 64)
		if err != nil || t < 0 {
			return 0, 0, 0, false
		}
		total = t
	}
	if rng == "*" {
		return -1, -1, total, true
	}
	s, e, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	start, err1 := strconv.ParseInt(s, 10, 64)
	end, err2 := strconv.ParseInt(e, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, 0, false
	}
	return start, end, total, true
}

// validatorOf picks the strong ETag, else Last-Modified (If-Range needs a strong validator).
func validatorOf(h http.Header) string {
	if et := h.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		return et
	}
	return h.Get("Last-Modified")
}

func (a *attempt) save() error {
	if err := a.cp.Save(*a.st); err != nil {
		return classify(ClassResource, false, fmt.Errorf("persist download state: %w", err))
	}
	return nil
}

// discard truncates the partial and forgets the validator, keeping the counters.
func (a *attempt) discard() error {
	if err := a.f.Truncate(0); err != nil {
		return classify(ClassOf(err), false, fmt.Errorf("truncate partial: %w", err))
	}
	a.st.reset()
	return a.save()
}

// single is a single-stream attempt.
func (a *attempt) single(ctx context.Context) (Result, error) {
	st := a.st
	offset, h, err := a.resumePoint()
	if err != nil {
		return Result{}, err
	}
	if err := a.f.Truncate(offset); err != nil {
		return Result{}, classify(ClassOf(err), false, fmt.Errorf("truncate partial: %w", err))
	}
	if st.Size > 0 {
		if err := a.checkSpace(st.Size - offset); err != nil {
			return Result{}, err
		}
	}
	validator := st.Validator
	if offset == 0 {
		validator = ""
	}

	host := hostOf(a.req.URL)
	release, err := a.d.opt.Hosts.Acquire(ctx, host)
	if err != nil {
		return Result{}, err
	}
	defer release()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	resp, ri, err := a.get(ctx, offset, -1, validator)
	if err != nil {
		a.d.opt.Hosts.Report(host, err)
		return Result{}, err
	}
	defer resp.Body.Close()

	res, err := a.handle(ctx, cancel, resp, ri, offset, h)
	a.d.opt.Hosts.Report(host, err)
	return res, err
}

// resumePoint returns where to resume and the hash state there: the synced checkpoint, never
// more than the file holds, and 0 when no validator was saved.
func (a *attempt) resumePoint() (int64, hashState, error) {
	st := a.st
	fresh, _ := newHash(nil)
	if st.Validator == "" || st.Offset <= 0 {
		return 0, fresh, nil
	}
	fi, err := a.f.Stat()
	if err != nil {
		return 0, nil, classify(ClassOf(err), false, fmt.Errorf("stat partial: %w", err))
	}
	offset := min(fi.Size(), st.Offset)
	if offset == st.Offset {
		if h, err := newHash(st.Hash); err == nil && len(st.Hash) > 0 {
			return offset, h, nil
		}
	}
	h, err := hashPrefix(a.f, offset)
	if err != nil {
		return 0, fresh, nil
	}
	return offset, h, nil
}

// handle applies reliability.md's status table and, when the response is usable, copies it.
func (a *attempt) handle(ctx context.Context, cancel context.CancelCauseFunc, resp *http.Response, ri *redirectInfo, offset int64, h hashState) (Result, error) {
	st := a.st
	now := a.d.opt.Now()
	switch {
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		_, _, total, ok := contentRange(resp.Header.Get("Content-Range"))
		// Complete only when the server's size equals ours and the saved size (an empty file
		// answers bytes=0- with 416 bytes */0).
		if ok && total == offset && (st.Size == offset || offset == 0) {
			st.Size = total
			return a.finish(h, offset)
		}
		if err := a.discard(); err != nil {
			return Result{}, err
		}
		return Result{}, &Error{Class: ClassNetwork, Status: 416, Err: fmt.Errorf("%w: 416 for offset %d; restarting from 0", ErrBadRange, offset)}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return Result{}, statusError(resp, now)
	}

	cr := resp.Header.Get("Content-Range")
	start, _, total, crOK := contentRange(cr)
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if !crOK || start != offset || (st.Size >= 0 && offset > 0 && total != st.Size) {
			st.BadRanges++
			if st.BadRanges >= 2 {
				if err := a.discard(); err != nil {
					return Result{}, err
				}
			} else if err := a.save(); err != nil {
				return Result{}, err
			}
			return Result{}, &Error{Class: ClassNetwork, Status: 206, Err: fmt.Errorf("%w: asked for byte %d, got Content-Range %q", ErrBadRange, offset, cr)}
		}
	default:
		// 200 with a matching Content-Range is a partial answer with a wrong status (modelscope).
		if !(crOK && start == offset) {
			total = resp.ContentLength
			if offset > 0 {
				st.Restarts++
				if st.Restarts > a.d.opt.MaxRestarts {
					a.discard()
					return Result{}, &Error{Class: ClassIntegrity, Permanent: true, Err: fmt.Errorf("%w: restarted %d times", ErrTooManyRetry, st.Restarts-1)}
				}
				offset = 0
				h.Reset()
				if err := a.f.Truncate(0); err != nil {
					return Result{}, classify(ClassOf(err), false, err)
				}
			}
		}
	}

	// We asked for identity; a compressed body would be bytes of another representation.
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return Result{}, &Error{Class: ClassIntegrity, Status: resp.StatusCode,
			Err: fmt.Errorf("server sent a %s-encoded body although identity was requested; nothing was saved", ce)}
	}
	body := bufio.NewReaderSize(resp.Body, 64<<10)
	head, _ := body.Peek(512)
	if offset == 0 && isHTML(resp.Header.Get("Content-Type"), head) {
		return Result{}, &Error{Class: ClassIntegrity, Permanent: true, Status: resp.StatusCode,
			Err: fmt.Errorf("%w from %s (a login, consent or error page?); nothing was saved", ErrHTMLPage, redact(resp.Request.URL))}
	}

	// Persist URL, validator and size before the first body byte.
	st.FinalURL = redact(resp.Request.URL)
	st.Validator = validatorOf(resp.Header)
	st.LastModified = resp.Header.Get("Last-Modified")
	if ri.linkedETag != "" {
		st.LinkedETag = ri.linkedETag
	} else if v := resp.Header.Get("X-Linked-Etag"); v != "" {
		st.LinkedETag = v
	}
	st.Size = total
	st.Offset = offset
	if st.Hash, _ = h.MarshalBinary(); offset == 0 {
		st.Hash = nil
	}
	st.BadRanges = 0
	if err := a.save(); err != nil {
		return Result{}, err
	}
	if total > 0 {
		// Check and reserve under one lock so concurrent downloads cannot both claim the
		// same free space.
		a.d.spaceMu.Lock()
		err := a.checkSpace(total - offset)
		if err == nil {
			a.reserve(offset, total-offset)
		}
		a.d.spaceMu.Unlock()
		if err != nil {
			return Result{}, err
		}
		if total >= a.d.opt.ParallelMinSize && a.d.opt.Connections > 1 && resp.StatusCode == http.StatusPartialContent && offset == 0 && st.Validator != "" {
			a.initSegments(total)
			if err := a.save(); err != nil {
				return Result{}, err
			}
			return a.segmented(ctx, &firstResponse{body: body, resp: resp})
		}
	}

	n, err := a.copyBody(ctx, cancel, body, &offset, h)
	if err != nil {
		return Result{}, err
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		a.checkpoint(offset, h)
		return Result{}, &Error{Class: ClassNetwork, Err: fmt.Errorf("%w: got %d of %d bytes", ErrShortBody, n, resp.ContentLength)}
	}
	if st.Size >= 0 && offset != st.Size {
		a.checkpoint(offset, h)
		return Result{}, &Error{Class: ClassNetwork, Err: fmt.Errorf("%w: have %d of %d bytes", ErrShortBody, offset, st.Size)}
	}
	return a.finish(h, offset)
}

// copyBody streams body into the partial at *offset through a sink (write and hash overlap
// the next read), checkpointing every interval.
func (a *attempt) copyBody(ctx context.Context, cancel context.CancelCauseFunc, body io.Reader, offset *int64, h hashState) (int64, error) {
	o := a.d.opt
	stall := time.AfterFunc(o.StallTimeout, func() { cancel(ErrStalled) })
	defer stall.Stop()
	sk := newSink(a.f, h, *offset, 1<<20)
	defer sk.close()
	start := *offset
	read := *offset // bytes read from the network; sk.written trails it
	lastCP, lastCPBytes := o.Now(), *offset
	a.lastProgress, a.lastBytes = o.Now(), *offset
	// settle drains the sink; on a write error it drops the bytes past the last good write.
	settle := func() (int64, error) {
		w, werr := sk.barrier()
		*offset = w
		if werr != nil {
			a.f.Truncate(w)
			a.checkpoint(w, h)
			return w - start, writeError(werr)
		}
		return w - start, nil
	}
	for {
		buf := sk.buffer()
		m, rerr := body.Read(buf)
		if m > 0 {
			stall.Reset(o.StallTimeout)
			sk.submit(buf, m, read)
			read += int64(m)
			if sk.failed.Load() {
				return settle()
			}
			now := o.Now()
			if now.Sub(lastCP) >= o.CheckpointInterval || read-lastCPBytes >= o.CheckpointBytes {
				if n, err := settle(); err != nil {
					return n, err
				}
				if err := a.checkpoint(*offset, h); err != nil {
					return *offset - start, err
				}
				lastCP, lastCPBytes = now, *offset
			}
			a.report(read, a.st.Size, false)
		} else {
			sk.release(buf)
		}
		if rerr == io.EOF {
			n, err := settle()
			if err == nil {
				a.report(*offset, a.st.Size, true)
			}
			return n, err
		}
		if rerr != nil {
			n, err := settle()
			if err != nil {
				return n, err
			}
			a.checkpoint(*offset, h)
			if cause := context.Cause(ctx); errors.Is(cause, ErrStalled) {
				return n, &Error{Class: ClassTimeout, Err: fmt.Errorf("%w (%s) after %d bytes", ErrStalled, o.StallTimeout, *offset)}
			}
			if ctx.Err() != nil {
				return n, classify(ClassCancelled, true, context.Cause(ctx))
			}
			if errors.Is(rerr, io.ErrUnexpectedEOF) {
				return n, &Error{Class: ClassNetwork, Err: fmt.Errorf("%w: connection closed after %d bytes", ErrShortBody, *offset)}
			}
			return n, classify(ClassNetwork, false, fmt.Errorf("read body: %w", rerr))
		}
	}
}

func writeError(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return &Error{Class: ClassResource, Err: fmt.Errorf("%w: %v (partial kept; free space and resume)", ErrNoSpace, err)}
	}
	return classify(ClassOf(err), false, fmt.Errorf("write partial: %w", err))
}

// checkpoint makes offset durable: fsync, then record it (never the other order).
func (a *attempt) checkpoint(offset int64, h hashState) error {
	if err := a.f.Sync(); err != nil {
		return classify(ClassOf(err), false, fmt.Errorf("sync partial: %w", err))
	}
	a.st.Offset = offset
	a.st.Hash, _ = h.MarshalBinary()
	return a.save()
}

func (a *attempt) report(bytes, total int64, force bool) {
	if a.progress == nil {
		return
	}
	now := a.d.opt.Now()
	el := now.Sub(a.lastProgress)
	if !force && el < a.d.opt.ProgressInterval {
		return
	}
	var speed float64
	if el > 0 {
		speed = float64(bytes-a.lastBytes) / el.Seconds()
	}
	a.lastProgress, a.lastBytes = now, bytes
	a.progress(Progress{Bytes: bytes, Total: total, SpeedBps: speed})
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Host
}
