// Package sources is the registry of model sources: where a model file can be downloaded
// from. Built-in sources are a direct URL, HuggingFace, CivitAI and the ComfyUI-Manager model
// list; later issues register WASM and plugin sources through the same interface. Every
// endpoint is configurable so tests point sources at loopback fakes.
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

	"github.com/comfylauncher/launcher/sdk/extension"
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
	Suggest(ctx context.Context, q extension.ModelQuery) ([]extension.ModelCandidate, error)
}

// ErrUnresolvable means no source understood a reference.
var ErrUnresolvable = errors.New("no model source understands this reference")

// Credential is an auth header for one host.
type Credential struct {
	Header string
	Value  string
}

// Registry holds sources in priority order and the per-host credentials they need.
type Registry struct {
	mu      sync.RWMutex
	sources []Source
	creds   map[string]Credential
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{creds: map[string]Credential{}} }

// Register appends a source; an id registered twice replaces the first.
func (r *Registry) Register(s Source) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, old := range r.sources {
		if old.ID() == s.ID() {
			r.sources[i] = s
			return
		}
	}
	r.sources = append(r.sources, s)
}

// SetCredential sets the auth header sent to host (a hostname, without port).
func (r *Registry) SetCredential(host string, c Credential) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.Value == "" {
		delete(r.creds, strings.ToLower(host))
		return
	}
	r.creds[strings.ToLower(host)] = c
}

// Credential returns host's credential; the downloader strips it on cross-host redirects.
func (r *Registry) Credential(host string) (Credential, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.creds[strings.ToLower(host)]
	return c, ok
}

// IDs lists the registered sources in order.
func (r *Registry) IDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var ids []string
	for _, s := range r.sources {
		ids = append(ids, s.ID())
	}
	return ids
}

func (r *Registry) list() []Source {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]Source(nil), r.sources...)
}

// Resolve asks each source in order; the first that claims the reference answers.
func (r *Registry) Resolve(ctx context.Context, ref string) (Resolved, error) {
	ref = strings.TrimSpace(ref)
	for _, s := range r.list() {
		res, ok, err := s.Resolve(ctx, ref)
		if !ok {
			continue
		}
		if err != nil {
			return Resolved{}, fmt.Errorf("%s: %w", s.ID(), err)
		}
		res.Source = s.ID()
		return res, nil
	}
	return Resolved{}, fmt.Errorf("%w: %q (use an http(s) URL, hf:org/repo/path@rev, civitai:<version id>, an AIR urn:air:...:civitai:<model>@<version>, or manager:<file name>)", ErrUnresolvable, ref)
}

// Suggest merges every source's candidates, best first, one per URL. A failing source is
// skipped: an unreachable hub must not hide the others' answers.
func (r *Registry) Suggest(ctx context.Context, q extension.ModelQuery) []extension.ModelCandidate {
	seen := map[string]int{}
	var out []extension.ModelCandidate
	for _, s := range r.list() {
		cands, err := s.Suggest(ctx, q)
		if err != nil {
			continue
		}
		for _, c := range cands {
			if c.Source == "" {
				c.Source = s.ID()
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
	sort.SliceStable(out, func(i, j int) bool { return out[i].Confidence > out[j].Confidence })
	return out
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
func (d Direct) Suggest(ctx context.Context, q extension.ModelQuery) ([]extension.ModelCandidate, error) {
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
	return []extension.ModelCandidate{{Source: d.ID(), URL: r.URL, Filename: name, Folder: q.Folder, SHA256: q.SHA256, Confidence: 0.9, Reference: r.URL}}, nil
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
