package sources

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/comfylauncher/launcher/sdk/extension"
)

// HuggingFace resolves hf:org/repo/path@revision references and huggingface.co resolve/blob
// URLs. When the Hub answers a HEAD, the LFS sha256 (X-Linked-Etag) and size fill the result so
// the download is verified.
type HuggingFace struct {
	Endpoint string // https://huggingface.co
	Token    string // never logged or returned
	Client   *http.Client
}

var _ Source = (*HuggingFace)(nil)

// ID returns "huggingface".
func (h *HuggingFace) ID() string { return "huggingface" }

func (h *HuggingFace) endpoint() string {
	if h.Endpoint == "" {
		return "https://huggingface.co"
	}
	return strings.TrimRight(h.Endpoint, "/")
}

// hfRef is repo (org/name), revision and file path.
type hfRef struct{ repo, rev, file string }

func (r hfRef) String() string { return "hf:" + r.repo + "/" + r.file + "@" + r.rev }

// parseRef understands "hf:org/repo/dir/file.safetensors@rev" (rev optional) and
// "hf://org/repo/...".
func parseHFRef(ref string) (hfRef, bool) {
	s, ok := strings.CutPrefix(ref, "hf://")
	if !ok {
		if s, ok = strings.CutPrefix(ref, "hf:"); !ok {
			return hfRef{}, false
		}
	}
	rev := "main"
	if i := strings.LastIndex(s, "@"); i > 0 {
		s, rev = s[:i], s[i+1:]
	}
	parts := strings.SplitN(s, "/", 3)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" || rev == "" {
		return hfRef{}, false
	}
	return hfRef{repo: parts[0] + "/" + parts[1], rev: rev, file: parts[2]}, true
}

// parseURL understands <endpoint>/org/repo/(resolve|blob)/rev/path.
func (h *HuggingFace) parseURL(raw string) (hfRef, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return hfRef{}, false
	}
	ep, err := url.Parse(h.endpoint())
	if err != nil || !strings.EqualFold(u.Host, ep.Host) {
		return hfRef{}, false
	}
	p := strings.TrimPrefix(u.Path, strings.TrimRight(ep.Path, "/"))
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 5)
	if len(parts) < 5 || (parts[2] != "resolve" && parts[2] != "blob") {
		return hfRef{}, false
	}
	return hfRef{repo: parts[0] + "/" + parts[1], rev: parts[3], file: parts[4]}, true
}

func (h *HuggingFace) resolveURL(r hfRef) string {
	return fmt.Sprintf("%s/%s/resolve/%s/%s", h.endpoint(), r.repo, url.PathEscape(r.rev), escapePath(r.file))
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// Resolve handles hf: references and Hub URLs.
func (h *HuggingFace) Resolve(ctx context.Context, ref string) (Resolved, bool, error) {
	r, ok := parseHFRef(ref)
	if !ok {
		if r, ok = h.parseURL(ref); !ok {
			return Resolved{}, false, nil
		}
	}
	res := Resolved{URL: h.resolveURL(r), Filename: lastSegment(r.file), Reference: r.String()}
	res.SHA256, res.Size = h.head(ctx, res.URL)
	return res, true, nil
}

// head asks the Hub for the LFS sha256 and size without following the CDN redirect. Failure is
// not an error: the download then runs unverified by hash but still length-checked.
func (h *HuggingFace) head(ctx context.Context, u string) (sha string, size int64) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return "", 0
	}
	req.Header.Set("Accept-Encoding", "identity")
	if h.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
	c := h.client()
	noRedirect := *c
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Do(req)
	if err != nil {
		return "", 0
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return "", 0
	}
	et := strings.Trim(strings.TrimPrefix(resp.Header.Get("X-Linked-Etag"), "W/"), "\"")
	if len(et) == 64 && isHex(et) {
		sha = strings.ToLower(et)
	}
	if n, err := strconv.ParseInt(resp.Header.Get("X-Linked-Size"), 10, 64); err == nil {
		size = n
	}
	return sha, size
}

func (h *HuggingFace) client() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	return http.DefaultClient
}

// Suggest offers a workflow's Hub URL (or hf: reference) with the Hub's hash.
func (h *HuggingFace) Suggest(ctx context.Context, q extension.ModelQuery) ([]extension.ModelCandidate, error) {
	if q.URL == "" {
		return nil, nil
	}
	r, ok, err := h.Resolve(ctx, q.URL)
	if !ok || err != nil {
		return nil, err
	}
	sha := r.SHA256
	if sha == "" {
		sha = q.SHA256
	}
	conf := 0.95
	if q.SHA256 != "" && r.SHA256 != "" && q.SHA256 != r.SHA256 {
		conf = 0.3 // the Hub file changed since the workflow was saved
	}
	return []extension.ModelCandidate{{Source: h.ID(), URL: r.URL, Filename: r.Filename, Folder: q.Folder, SHA256: sha, Size: r.Size, Reference: r.Reference, Confidence: conf}}, nil
}

func lastSegment(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
