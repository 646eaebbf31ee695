// Package sources holds the built-in model sources (a direct URL, HuggingFace, CivitAI, the
// ComfyUI-Manager model list) and the Resolver that asks every model source of the extension
// registry — built-in, WASM or plugin — in order. Every endpoint is configurable so tests point
// sources at loopback fakes.
package sources

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// Resolved is a reference turned into something the downloader can fetch.
type Resolved struct {
	URL      string `json:"url"`
	Filename string `json:"filename,omitempty"`
	Folder   string `json:"folder,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Size     int64  `json:"size,omitempty"`
	// Source is the id of the source that resolved it; Reference its canonical reference.
	Source    string `json:"source"`
	Reference string `json:"reference,omitempty"`
}

// Source is one model source.
type Source interface {
	// ID is the namespaced id, e.g. "huggingface".
	ID() string
	// Resolve turns a reference in this source's syntax ("hf:org/repo/file@rev", a URL of its
	// host, ...) into a download; ok is false when the reference is not this source's.
	Resolve(ctx context.Context, ref string) (r Resolved, ok bool, err error)
	// Suggest returns download candidates for a model a workflow needs.
	Suggest(ctx context.Context, q sdk.ModelQuery) ([]sdk.ModelCandidate, error)
}

// ErrUnresolvable means no source understood a reference.
var ErrUnresolvable = errors.New("no model source understands this reference")

// Credential is an auth header for one host.
type Credential struct {
	Header string
	Value  string
}

// Resolver asks the model sources of the extension registry, in the registry's order, and
// holds the per-host credentials downloads need. Built-in sources implement Source; extension
// sources (WASM, go-plugin) implement sdk.ModelSource.
type Resolver struct {
	reg *extension.Registry

	mu    sync.RWMutex
	creds map[string]Credential
	// fromExt marks credentials adopted from an extension's answer (see adoptHeaders).
	fromExt map[string]bool
}

// NewResolver returns a Resolver over reg's model sources.
func NewResolver(reg *extension.Registry) *Resolver {
	return &Resolver{reg: reg, creds: map[string]Credential{}, fromExt: map[string]bool{}}
}

// Of returns a Resolver over a private registry holding srcs, asked in this order (tests and
// the CLI).
func Of(srcs ...Source) *Resolver {
	reg := extension.New(extension.Options{})
	if err := Register(context.Background(), reg, srcs...); err != nil {
		panic(err) // duplicate ids in a literal list are a programming error
	}
	return NewResolver(reg)
}

// Register adds built-in sources to reg as builtin.<id>, in order.
func Register(ctx context.Context, reg *extension.Registry, srcs ...Source) error {
	for _, s := range srcs {
		info := extension.Info{ID: extension.ID(extension.TransportBuiltin, s.ID()), Version: "1", Transport: extension.TransportBuiltin,
			Capabilities: []sdk.Capability{sdk.CapModelSource}}
		if _, err := reg.Register(ctx, info, s); err != nil {
			return fmt.Errorf("register source %s: %w", s.ID(), err)
		}
	}
	return nil
}

// SetCredential sets the auth header sent to host (a hostname, without port).
func (r *Resolver) SetCredential(host string, c Credential) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.fromExt, strings.ToLower(host))
	if c.Value == "" {
		delete(r.creds, strings.ToLower(host))
		return
	}
	r.creds[strings.ToLower(host)] = c
}

// adoptHeaders keeps the auth header an extension source answered a download with (a private
// registry's bearer token) as the credential of the download's host, so the downloader sends
// it. A credential the agent's own configuration set for that host is never replaced.
func (r *Resolver) adoptHeaders(d sdk.Download) {
	u, err := url.Parse(d.URL)
	if err != nil || u.Hostname() == "" {
		return
	}
	for _, h := range []string{"Authorization", "X-Api-Key"} {
		v, ok := d.Headers[h]
		if !ok || v == "" {
			continue
		}
		host := strings.ToLower(u.Hostname())
		r.mu.Lock()
		if _, configured := r.creds[host]; !configured || r.fromExt[host] {
			r.creds[host] = Credential{Header: h, Value: v}
			r.fromExt[host] = true
		}
		r.mu.Unlock()
		return
	}
}

// Credential returns host's credential; the downloader strips it on cross-host redirects.
func (r *Resolver) Credential(host string) (Credential, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.creds[strings.ToLower(host)]
	return c, ok
}

// IDs lists the sources in the order they are asked.
func (r *Resolver) IDs() []string {
	var ids []string
	for _, e := range r.reg.Ordered(sdk.CapModelSource) {
		ids = append(ids, e.ID())
	}
	return ids
}

// Resolve asks each source in order; the first that claims the reference answers. A source
// that fails (an extension that crashed or timed out) is skipped and named in the error when
// no other source resolves the reference; a built-in that claims a reference and fails ends
// the search with its error.
func (r *Resolver) Resolve(ctx context.Context, ref string) (Resolved, error) {
	ref = strings.TrimSpace(ref)
	var failures []string
	for _, e := range r.reg.Ordered(sdk.CapModelSource) {
		switch s := e.Impl().(type) {
		case Source:
			type answer struct {
				res Resolved
				ok  bool
			}
			a, err := extension.Call(ctx, e, func(ctx context.Context) (answer, error) {
				res, ok, err := s.Resolve(ctx, ref)
				return answer{res, ok}, err
			})
			if !a.ok && err == nil {
				continue
			}
			if err != nil {
				return Resolved{}, fmt.Errorf("%s: %w", s.ID(), errors.Unwrap(err))
			}
			a.res.Source = s.ID()
			return a.res, nil
		case sdk.ModelSource:
			resp, err := extension.Call(ctx, e, func(ctx context.Context) (sdk.ResolveResponse, error) {
				return s.ResolveModel(ctx, sdk.ResolveRequest{Reference: ref})
			})
			if err != nil {
				failures = append(failures, err.Error())
				continue
			}
			if len(resp.Candidates) == 0 || resp.Candidates[0].URL == "" {
				continue
			}
			c := resp.Candidates[0]
			r.adoptHeaders(c)
			return Resolved{URL: c.URL, Filename: c.Filename, Folder: c.Folder, SHA256: strings.ToLower(c.SHA256), Size: c.Size,
				Source: e.ID(), Reference: c.Reference}, nil
		}
	}
	msg := fmt.Sprintf("%q (use an http(s) URL, hf:org/repo/path@rev, civitai:<version id>, an AIR urn:air:...:civitai:<model>@<version>, or manager:<file name>)", ref)
	if len(failures) > 0 {
		msg += "; sources that failed: " + strings.Join(failures, "; ")
	}
	return Resolved{}, fmt.Errorf("%w: %s", ErrUnresolvable, msg)
}

// Suggest merges every source's candidates, best first, one per URL. A failing source does
// not hide the others' answers; it is returned in failures (and recorded in the registry)
// so the caller can say which source failed and why.
func (r *Resolver) Suggest(ctx context.Context, q sdk.ModelQuery) ([]sdk.ModelCandidate, []extension.Failure) {
	seen := map[string]int{}
	out := []sdk.ModelCandidate{}
	var failures []extension.Failure
	add := func(source string, cands []sdk.ModelCandidate) {
		for _, c := range cands {
			if c.URL == "" {
				continue
			}
			if c.Source == "" {
				c.Source = source
			}
			if i, ok := seen[c.URL]; ok {
				if c.Confidence > out[i].Confidence {
					out[i] = c
				}
				continue
			}
			seen[c.URL] = len(out)
			out = append(out, c)
		}
	}
	for _, e := range r.reg.Ordered(sdk.CapModelSource) {
		var cands []sdk.ModelCandidate
		var err error
		switch s := e.Impl().(type) {
		case Source:
			cands, err = extension.Call(ctx, e, func(ctx context.Context) ([]sdk.ModelCandidate, error) { return s.Suggest(ctx, q) })
			add(s.ID(), cands)
		case sdk.ModelSource:
			var resp sdk.ResolveResponse
			resp, err = extension.Call(ctx, e, func(ctx context.Context) (sdk.ResolveResponse, error) {
				return s.ResolveModel(ctx, sdk.ResolveRequest{Query: q})
			})
			for _, d := range resp.Candidates {
				c := d.Candidate()
				c.Source = e.ID()
				cands = append(cands, c)
			}
			add(e.ID(), cands)
		}
		if err != nil {
			failures = append(failures, extension.Failure{Extension: e.ID(), Error: err.Error()})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Confidence > out[j].Confidence })
	return out, failures
}

// Direct resolves plain http(s) URLs and offers a workflow's embedded URL as a candidate.
type Direct struct{}

var _ Source = Direct{}

// ID returns "direct".
func (Direct) ID() string { return "direct" }

// Resolve accepts any http or https URL.
func (Direct) Resolve(_ context.Context, ref string) (Resolved, bool, error) {
	u, err := url.Parse(ref)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Resolved{}, false, nil
	}
	return Resolved{URL: ref, Filename: FilenameFromURL(u), Reference: ref}, true, nil
}

// Suggest returns the query's own URL (properties.models[].url of a workflow).
func (d Direct) Suggest(ctx context.Context, q sdk.ModelQuery) ([]sdk.ModelCandidate, error) {
	if q.URL == "" {
		return nil, nil
	}
	r, ok, _ := d.Resolve(ctx, q.URL)
	if !ok {
		return nil, nil
	}
	name := path.Base(q.Name)
	if name == "." || name == "/" || q.Name == "" {
		name = r.Filename
	}
	return []sdk.ModelCandidate{{Source: d.ID(), URL: r.URL, Filename: name, Folder: q.Folder, SHA256: q.SHA256, Confidence: 0.9, Reference: r.URL}}, nil
}

// FilenameFromURL is the last path segment, unescaped.
func FilenameFromURL(u *url.URL) string {
	base := path.Base(u.Path)
	if base == "." || base == "/" {
		return ""
	}
	return base
}

// httpStatusError describes a non-2xx answer from a source's API.
func httpStatusError(resp *http.Response) error {
	return fmt.Errorf("%s answered %s", resp.Request.URL.Host, resp.Status)
}
