package models

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/models/sources"
)

// Update is one model whose source changed since it was downloaded.
type Update struct {
	Path   string `json:"path"`
	URL    string `json:"url"`
	Reason string `json:"reason"`
	// Local and Remote validators that differ.
	Local  map[string]any `json:"local"`
	Remote map[string]any `json:"remote"`
}

// UpdateCheck is the GET /api/models/check-updates body.
type UpdateCheck struct {
	UpdatesAvailable []Update         `json:"updates_available"`
	Checked          int              `json:"checked"`
	Unchanged        int              `json:"unchanged"`
	NoSource         int              `json:"no_source"`
	Errors           []map[string]any `json:"errors"`
	Message          string           `json:"message"`
}

// UpdateChecker asks the sources of stored models whether the files changed upstream.
type UpdateChecker struct {
	ix     *index
	reg    *sources.Resolver
	client *http.Client
	// concurrency bounds parallel requests.
	concurrency int
}

func newUpdateChecker(ix *index, reg *sources.Resolver, client *http.Client, concurrency int) *UpdateChecker {
	if client == nil {
		client = http.DefaultClient
	}
	return &UpdateChecker{ix: ix, reg: reg, client: client, concurrency: concurrency}
}

// CheckUpdates asks the source of every model with a recorded URL whether the file changed:
// a conditional HEAD (If-None-Match / If-Modified-Since); HuggingFace's X-Linked-Etag (the LFS
// sha256) and X-Linked-Size from the redirect, else ETag, Content-Length and Last-Modified.
func (u *UpdateChecker) CheckUpdates(ctx context.Context) (UpdateCheck, error) {
	if err := u.ix.scan(); err != nil {
		return UpdateCheck{}, err
	}
	out := UpdateCheck{UpdatesAvailable: []Update{}, Errors: []map[string]any{}}
	var todo []Entry
	for _, e := range u.ix.snapshot() {
		if e.SourceURL == "" {
			out.NoSource++
			continue
		}
		todo = append(todo, e)
	}
	var mu sync.Mutex
	sem := make(chan struct{}, u.concurrency)
	var wg sync.WaitGroup
	for _, e := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			up, err := u.checkOne(ctx, e)
			mu.Lock()
			defer mu.Unlock()
			out.Checked++
			switch {
			case err != nil:
				out.Errors = append(out.Errors, map[string]any{"path": e.Path, "error": err.Error()})
			case up != nil:
				out.UpdatesAvailable = append(out.UpdatesAvailable, *up)
			default:
				out.Unchanged++
			}
		}()
	}
	wg.Wait()
	out.Message = fmt.Sprintf("%d of %d models with a known source changed upstream; %d have no recorded source", len(out.UpdatesAvailable), out.Checked, out.NoSource)
	return out, nil
}

// checkOne returns nil when the remote file is unchanged.
func (u *UpdateChecker) checkOne(ctx context.Context, e Entry) (*Update, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, e.SourceURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept-Encoding", "identity")
	if e.ETag != "" {
		req.Header.Set("If-None-Match", e.ETag)
	} else if e.LastModified != "" {
		req.Header.Set("If-Modified-Since", e.LastModified)
	}
	origHost := req.URL.Host
	if c, ok := u.reg.Credential(req.URL.Hostname()); ok {
		req.Header.Set(c.Header, c.Value)
	}
	var linkedETag, linkedSize string
	cl := *u.client
	cl.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		if r.Response != nil {
			if v := r.Response.Header.Get("X-Linked-Etag"); v != "" {
				linkedETag = v
			}
			if v := r.Response.Header.Get("X-Linked-Size"); v != "" {
				linkedSize = v
			}
		}
		if r.URL.Host != origHost {
			if c, ok := u.reg.Credential(via[0].URL.Hostname()); ok {
				r.Header.Del(c.Header)
			}
			r.Header.Del("Authorization")
		}
		return nil
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, fmt.Errorf("HEAD %s: %w", e.SourceURL, err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotImplemented {
		// No HEAD: ask for one byte; Content-Range carries the size.
		get := req.Clone(ctx)
		get.Method = http.MethodGet
		get.Header.Set("Range", "bytes=0-0")
		if resp, err = cl.Do(get); err != nil {
			return nil, fmt.Errorf("GET %s: %w", e.SourceURL, err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusPartialContent {
			if i := strings.LastIndex(resp.Header.Get("Content-Range"), "/"); i >= 0 {
				if n, err := strconv.ParseInt(resp.Header.Get("Content-Range")[i+1:], 10, 64); err == nil {
					resp.ContentLength = n
				}
			}
			resp.StatusCode = http.StatusOK
		}
	}
	if linkedETag == "" {
		linkedETag = resp.Header.Get("X-Linked-Etag")
	}
	if linkedSize == "" {
		linkedSize = resp.Header.Get("X-Linked-Size")
	}
	if resp.StatusCode == http.StatusNotModified {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
			return &Update{Path: e.Path, URL: e.SourceURL, Reason: "removed upstream (" + resp.Status + ")",
				Local: map[string]any{"size": e.Size}, Remote: map[string]any{"status": resp.StatusCode}}, nil
		}
		return nil, fmt.Errorf("HEAD %s: %s", e.SourceURL, resp.Status)
	}
	up := &Update{Path: e.Path, URL: e.SourceURL, Local: map[string]any{}, Remote: map[string]any{}}
	norm := func(v string) string { return strings.Trim(strings.TrimPrefix(v, "W/"), "\"") }
	var reasons []string
	if linkedETag != "" {
		remote := strings.ToLower(norm(linkedETag))
		local := strings.ToLower(norm(e.LinkedETag))
		if local == "" && len(remote) == 64 {
			local = e.SHA256
		}
		if local != "" && remote != local {
			reasons = append(reasons, "content hash changed (X-Linked-Etag)")
			up.Local["linked_etag"], up.Remote["linked_etag"] = local, remote
		}
	} else if et := resp.Header.Get("ETag"); et != "" && e.ETag != "" && norm(et) != norm(e.ETag) {
		reasons = append(reasons, "ETag changed")
		up.Local["etag"], up.Remote["etag"] = e.ETag, et
	}
	size := resp.ContentLength
	if n, err := strconv.ParseInt(linkedSize, 10, 64); err == nil {
		size = n
	}
	if size >= 0 && size != e.Size {
		reasons = append(reasons, "size changed")
		up.Local["size"], up.Remote["size"] = e.Size, size
	}
	if lm := resp.Header.Get("Last-Modified"); lm != "" && e.LastModified != "" && e.ETag == "" && linkedETag == "" {
		rt, err1 := http.ParseTime(lm)
		lt, err2 := http.ParseTime(e.LastModified)
		if err1 == nil && err2 == nil && rt.After(lt) {
			reasons = append(reasons, "Last-Modified is newer")
			up.Local["last_modified"], up.Remote["last_modified"] = e.LastModified, lm
		}
	}
	if len(reasons) == 0 {
		return nil, nil
	}
	up.Reason = strings.Join(reasons, "; ")
	return up, nil
}
