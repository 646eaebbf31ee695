// Package mirror is a model source, shipped as a WASM module (./module), that sends model
// downloads to an operator's mirror or artifact proxy, for air-gapped and regional nodes:
// HuggingFace references and URLs, CivitAI model versions and any URL that matches a configured
// prefix are rewritten to the mirror. The agent still downloads and verifies the file; this
// module only maps names to URLs.
//
// Config ([[extensions]].config):
//
//	mirror = "https://mirror.internal/models"   # base URL (required)
//	huggingface = true                          # map hf: refs and huggingface.co URLs (default true)
//	civitai = true                              # map civitai: refs and civitai.com URLs (default true)
//	name_template = "{mirror}/by-name/{folder}/{name}"  # optional: offer models a workflow names without a URL
//	[[extensions.config.patterns]]
//	prefix = "https://example.com/files/"
//	replace = "https://mirror.internal/example/"
package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"path"
	"strconv"
	"strings"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// Config is the module's config table.
type Config struct {
	Mirror       string    `json:"mirror"`
	HuggingFace  *bool     `json:"huggingface"`
	CivitAI      *bool     `json:"civitai"`
	NameTemplate string    `json:"name_template"`
	Patterns     []Pattern `json:"patterns"`
}

// Pattern rewrites URLs that start with Prefix.
type Pattern struct {
	Prefix  string `json:"prefix"`
	Replace string `json:"replace"`
}

// Source is the mirror model source.
type Source struct{ cfg Config }

var _ sdk.ModelSource = (*Source)(nil)

// Configure decodes and checks the config.
func (s *Source) Configure(raw json.RawMessage) error {
	var c Config
	if err := sdk.DecodeConfig(raw, &c); err != nil {
		return err
	}
	u, err := url.Parse(c.Mirror)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &sdk.Error{Code: "bad_config", Message: "config.mirror must be the mirror's http(s) base URL, e.g. \"https://mirror.internal/models\""}
	}
	c.Mirror = strings.TrimRight(c.Mirror, "/")
	for i, p := range c.Patterns {
		if p.Prefix == "" || p.Replace == "" {
			return &sdk.Error{Code: "bad_config", Message: "config.patterns[" + strconv.Itoa(i) + "] needs both prefix and replace"}
		}
	}
	s.cfg = c
	return nil
}

func on(b *bool) bool { return b == nil || *b }

// ResolveModel maps a reference (download) or a needed model (suggestion) to the mirror.
func (s *Source) ResolveModel(_ context.Context, req sdk.ResolveRequest) (sdk.ResolveResponse, error) {
	q := req.Query
	if req.Reference != "" {
		u, name, ok := s.mapRef(req.Reference)
		if !ok {
			return sdk.ResolveResponse{}, nil
		}
		if q.Name != "" {
			name = path.Base(q.Name)
		}
		return one(sdk.ModelCandidate{URL: u, Filename: name, Folder: q.Folder, SHA256: q.SHA256, Reference: req.Reference, Confidence: 1}), nil
	}
	name := path.Base(q.Name)
	if q.URL != "" {
		if u, fromURL, ok := s.mapRef(q.URL); ok {
			if name == "." || name == "" {
				name = fromURL
			}
			return one(sdk.ModelCandidate{URL: u, Filename: name, Folder: q.Folder, SHA256: q.SHA256, Reference: q.URL, Confidence: 0.95}), nil
		}
	}
	if s.cfg.NameTemplate != "" && q.Name != "" && q.Folder != "" {
		r := strings.NewReplacer("{mirror}", s.cfg.Mirror, "{folder}", url.PathEscape(q.Folder), "{name}", escapePath(q.Name))
		return one(sdk.ModelCandidate{URL: r.Replace(s.cfg.NameTemplate), Filename: name, Folder: q.Folder, SHA256: q.SHA256, Confidence: 0.6}), nil
	}
	return sdk.ResolveResponse{}, nil
}

func one(c sdk.ModelCandidate) sdk.ResolveResponse {
	c.Source = "mirror"
	return sdk.ResolveResponse{Candidates: []sdk.Download{{ModelCandidate: c}}}
}

// mapRef returns the mirror URL and file name for ref, false when ref is not mirrored.
func (s *Source) mapRef(ref string) (string, string, bool) {
	ref = strings.TrimSpace(ref)
	for _, p := range s.cfg.Patterns {
		if rest, ok := strings.CutPrefix(ref, p.Prefix); ok {
			return p.Replace + rest, path.Base(strings.SplitN(rest, "?", 2)[0]), true
		}
	}
	if on(s.cfg.HuggingFace) {
		if repo, file, rev, err := parseHF(ref); err == nil {
			return s.cfg.Mirror + "/huggingface/" + repo + "/resolve/" + url.PathEscape(rev) + "/" + escapePath(file), path.Base(file), true
		}
	}
	if on(s.cfg.CivitAI) {
		if id, ok := civitaiVersion(ref); ok {
			return s.cfg.Mirror + "/civitai/" + id, "", true
		}
	}
	return "", "", false
}

// parseHF accepts hf:org/repo/path/file[@rev] and https://huggingface.co/org/repo/{resolve,blob}/rev/path.
func parseHF(ref string) (repo, file, rev string, err error) {
	if rest, ok := strings.CutPrefix(ref, "hf:"); ok {
		rest, rev, _ = strings.Cut(rest, "@")
		parts := strings.SplitN(rest, "/", 3)
		if len(parts) < 3 || parts[2] == "" {
			return "", "", "", errors.New("want hf:org/repo/file")
		}
		if rev == "" {
			rev = "main"
		}
		return parts[0] + "/" + parts[1], parts[2], rev, nil
	}
	u, perr := url.Parse(ref)
	if perr != nil || (u.Host != "huggingface.co" && u.Host != "www.huggingface.co") {
		return "", "", "", errors.New("not a HuggingFace URL")
	}
	parts := strings.SplitN(strings.TrimPrefix(u.Path, "/"), "/", 5)
	if len(parts) < 5 || (parts[2] != "resolve" && parts[2] != "blob") {
		return "", "", "", errors.New("not a HuggingFace file URL")
	}
	return parts[0] + "/" + parts[1], parts[4], parts[3], nil
}

// civitaiVersion accepts civitai:<version id> and https://civitai.com/api/download/models/<id>.
func civitaiVersion(ref string) (string, bool) {
	if id, ok := strings.CutPrefix(ref, "civitai:"); ok {
		return id, digits(id)
	}
	u, err := url.Parse(ref)
	if err != nil || (u.Host != "civitai.com" && u.Host != "www.civitai.com") {
		return "", false
	}
	id, ok := strings.CutPrefix(u.Path, "/api/download/models/")
	return id, ok && digits(id)
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}
