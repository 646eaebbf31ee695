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

	"github.com/comfylauncher/launcher/agent/internal/recovery"
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

// get sends a GET for the byte range [from, to) (to < 0: to the end), conditional on
// validator when it is set.
func (a *attempt) get(ctx context.Context, from, to int64, validator string) (*http.Response, *redirectInfo, error) {
	ri := &redirectInfo{}
	ctx = context.WithValue(ctx, redirectKey{}, ri)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.req.URL, nil)
	if err != nil {
		return nil, nil, classify(recovery.ClassUnknown, true, fmt.Errorf("bad download URL: %w", err))
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
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to-1))
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
		return classify(recovery.ClassResource, false, fmt.Errorf("persist download state: %w", err))
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

// run is the attempt: the probe when nothing is known yet, then the segments. A change of
// the remote file (a new validator or size on any response, or a 200 where a range was asked
// for) restarts from zero within the attempt, at most MaxRestarts times per download, and the
// new validator is what the checkpoint records from then on.
func (a *attempt) run(ctx context.Context) (Result, error) {
	for {
		res, err := a.once(ctx)
		var ch *changedError
		if !errors.As(err, &ch) {
			return res, err
		}
		a.st.Restarts++
		if a.st.Restarts > a.d.opt.MaxRestarts {
			a.discard()
			return Result{}, &Error{Class: recovery.ClassIntegrity, Permanent: true, Err: fmt.Errorf("%w: restarted %d times (%v)", ErrTooManyRetry, a.st.Restarts-1, err)}
		}
		if err := a.discard(); err != nil {
			return Result{}, err
		}
		if ch.validator != "" {
			a.st.Validator, a.st.Size = ch.validator, ch.size
			if err := a.save(); err != nil {
				return Result{}, err
			}
			a.st.Segments = nil
		}
	}
}

func (a *attempt) once(ctx context.Context) (Result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var first *firstResponse
	if len(a.st.Segments) == 0 {
		fr, res, err := a.probe(ctx)
		if err != nil || fr == nil {
			return res, err
		}
		first = fr
	}
	return a.segmented(ctx, cancel, first)
}

// probe asks for the first piece with no validator and learns the file from the answer: its
// size, validator and whether ranges work. They are saved before the first body byte is
// written. It returns the response, whose body is the file's start, or the finished result
// of an empty file.
func (a *attempt) probe(ctx context.Context) (*firstResponse, Result, error) {
	if err := a.f.Truncate(0); err != nil {
		return nil, Result{}, classify(ClassOf(err), false, fmt.Errorf("truncate partial: %w", err))
	}
	lease, err := a.d.opt.Hosts.Acquire(ctx, hostOf(a.req.URL))
	if err != nil {
		return nil, Result{}, err
	}
	resp, ri, err := a.get(ctx, 0, a.d.opt.MinSegment, "")
	if err != nil {
		lease.Report(err)
		lease.Release()
		return nil, Result{}, err
	}
	fr, empty, err := a.learn(resp, ri)
	lease.Report(err)
	if err != nil || empty {
		resp.Body.Close()
		lease.Release()
		if empty {
			h, _ := newHash(nil)
			res, err := a.finish(h, 0)
			return nil, res, err
		}
		return nil, Result{}, err
	}
	fr.release = lease.Release
	return fr, Result{}, nil
}

// learn applies reliability.md's status table to the probe's answer and records the file.
func (a *attempt) learn(resp *http.Response, ri *redirectInfo) (*firstResponse, bool, error) {
	st := a.st
	cr := resp.Header.Get("Content-Range")
	start, last, total, crOK := contentRange(cr)
	switch {
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// An empty file answers bytes=0-N with 416 bytes */0.
		if crOK && total == 0 {
			st.Size, st.Validator = 0, validatorOf(resp.Header)
			return nil, true, nil
		}
		return nil, false, &Error{Class: recovery.ClassNetwork, Status: 416, Err: fmt.Errorf("%w: 416 for the first bytes (Content-Range %q)", ErrBadRange, cr)}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, false, statusError(resp, a.d.opt.Now())
	case resp.StatusCode == http.StatusPartialContent && (!crOK || start != 0):
		return nil, false, &Error{Class: recovery.ClassNetwork, Status: 206, Err: fmt.Errorf("%w: asked for byte 0, got Content-Range %q", ErrBadRange, cr)}
	}
	if err := checkEncoding(resp); err != nil {
		return nil, false, err
	}
	body := bufio.NewReaderSize(resp.Body, 64<<10)
	head, _ := body.Peek(512)
	if isHTML(resp.Header.Get("Content-Type"), head) {
		return nil, false, &Error{Class: recovery.ClassIntegrity, Permanent: true, Status: resp.StatusCode,
			Err: fmt.Errorf("%w from %s (a login, consent or error page?); nothing was saved", ErrHTMLPage, redact(resp.Request.URL))}
	}
	// 200 with a matching Content-Range is a partial answer with a wrong status (modelscope).
	end := int64(-1)
	if crOK && start == 0 {
		end = last + 1
	} else {
		total = resp.ContentLength
		end = total
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
	st.Segments = []Segment{{Start: 0, End: total}}
	st.Offset, st.Hash, st.BadRanges = 0, nil, 0
	if err := a.save(); err != nil {
		return nil, false, err
	}
	if total > 0 {
		// Check and reserve under one lock so concurrent downloads cannot both claim the
		// same free space.
		a.d.spaceMu.Lock()
		err := a.checkSpace(total)
		if err == nil {
			a.reserve(0, total)
		}
		a.d.spaceMu.Unlock()
		if err != nil {
			return nil, false, err
		}
	}
	return &firstResponse{resp: resp, body: body, end: end, ranged: crOK && start == 0}, false, nil
}

// checkResponse checks the answer to a request for [from, to) against the checkpoint: the
// same validator and total size (else the file changed: changedError), a 206 starting at
// from, no compression. It returns where the answer's range ends (exclusive).
func (a *attempt) checkResponse(resp *http.Response, from, to int64) (int64, error) {
	st := a.st
	cr := resp.Header.Get("Content-Range")
	start, last, total, crOK := contentRange(cr)
	switch {
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return 0, &changedError{validator: validatorOf(resp.Header), size: total, why: fmt.Sprintf("416 for byte %d: the file is shorter than before", from)}
	case resp.StatusCode == http.StatusOK && !(crOK && start == from):
		return 0, &changedError{validator: validatorOf(resp.Header), size: resp.ContentLength,
			why: fmt.Sprintf("200 with the whole file for a request from byte %d (If-Range did not match, or ranges are no longer honoured)", from)}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return 0, statusError(resp, a.d.opt.Now())
	case !crOK:
		return 0, &Error{Class: recovery.ClassNetwork, Status: resp.StatusCode, Err: fmt.Errorf("%w: asked for byte %d, got Content-Range %q", ErrBadRange, from, cr)}
	}
	if v := validatorOf(resp.Header); v != st.Validator {
		return 0, &changedError{validator: v, size: total, why: fmt.Sprintf("validator %s, the partial holds %s", orNone(v), orNone(st.Validator))}
	}
	if st.Size >= 0 && total != st.Size {
		return 0, &changedError{validator: validatorOf(resp.Header), size: total, why: fmt.Sprintf("size %d, the partial holds %d", total, st.Size)}
	}
	if start != from || (to >= 0 && last+1 > to) {
		return 0, &Error{Class: recovery.ClassNetwork, Status: resp.StatusCode, Err: fmt.Errorf("%w: asked for bytes %d-%d, got Content-Range %q", ErrBadRange, from, to-1, cr)}
	}
	if err := checkEncoding(resp); err != nil {
		return 0, err
	}
	return last + 1, nil
}

func orNone(v string) string {
	if v == "" {
		return "none"
	}
	return v
}

// checkEncoding refuses a compressed body: we asked for identity, other bytes are another
// representation and their offsets mean nothing.
func checkEncoding(resp *http.Response) error {
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return &Error{Class: recovery.ClassIntegrity, Status: resp.StatusCode,
			Err: fmt.Errorf("server sent a %s-encoded body although identity was requested; nothing was saved", ce)}
	}
	return nil
}

func writeError(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return &Error{Class: recovery.ClassResource, Err: fmt.Errorf("%w: %v (partial kept; free space and resume)", ErrNoSpace, err)}
	}
	return classify(ClassOf(err), false, fmt.Errorf("write partial: %w", err))
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
