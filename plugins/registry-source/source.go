package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
	"github.com/comfylauncher/launcher/sdk/plugin"
)

const version = "1.0.0"

// Index freshness: a fetched index answers for indexTTL; a model missing from it triggers a
// refetch at most every missRefetch (a model just published shows up without waiting out the
// TTL, and a workflow full of unknown names does not hammer the registry).
const (
	indexTTL    = 5 * time.Minute
	missRefetch = 10 * time.Second
	maxIndex    = 32 << 20
)

// config is the [[extensions]].config table.
type config struct {
	// URL of the registry's index (JSON, see README.md).
	URL string `json:"url"`
	// TokenEnv names the environment variable holding the bearer token (the agent passes that
	// variable, and only that one, to the plugin).
	TokenEnv string `json:"token_env"`
	// TokenFile is a file holding the token (read on every index fetch, so a rotated token is
	// picked up).
	TokenFile string `json:"token_file"`
}

// index is the registry's index document.
type index struct {
	Models []entry `json:"models"`
}

// entry is one model of the index. URL may be relative to the index URL.
type entry struct {
	Name   string `json:"name"`
	Folder string `json:"folder"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	URL    string `json:"url"`
}

// source is the model source. It keeps the last index it read.
type source struct {
	client *http.Client
	now    func() time.Time
	log    *slog.Logger

	mu      sync.Mutex
	cfg     config
	base    *url.URL
	models  []entry // URLs made absolute
	fetched time.Time
}

func newSource(client *http.Client) *source {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &source{client: client, now: time.Now, log: plugin.Logger()}
}

func (s *source) configure(ctx context.Context, req sdk.InitRequest) error {
	var c config
	if err := sdk.DecodeConfig(req.Config, &c); err != nil {
		return err
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &sdk.Error{Code: "bad_config", Message: fmt.Sprintf("url %q must be the http(s) URL of the registry's index", c.URL)}
	}
	if c.TokenEnv == "" && c.TokenFile == "" {
		return &sdk.Error{Code: "bad_config", Message: "set token_env (a variable holding the registry token) or token_file"}
	}
	s.mu.Lock()
	s.cfg, s.base = c, u
	s.mu.Unlock()
	if _, err := s.token(); err != nil {
		return err
	}
	// Fail now, at load, when the registry refuses this configuration (a wrong token, not an
	// index). A registry that is only unreachable is not a configuration error: the node may
	// boot before the network, so the index is read on the first question instead.
	if _, err := s.index(ctx, true); err != nil {
		var xe *sdk.Error
		if errors.As(err, &xe) && xe.Retryable {
			s.log.Warn("registry index not reachable yet; reading it on the first question", "err", err)
			return nil
		}
		return err
	}
	return nil
}

func (s *source) token() (string, error) {
	s.mu.Lock()
	c := s.cfg
	s.mu.Unlock()
	if c.TokenEnv != "" {
		if v := strings.TrimSpace(os.Getenv(c.TokenEnv)); v != "" {
			return v, nil
		}
		if c.TokenFile == "" {
			return "", &sdk.Error{Code: "bad_config", Message: fmt.Sprintf("environment variable %s (token_env) is empty or not set", c.TokenEnv)}
		}
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return "", &sdk.Error{Code: "bad_config", Message: fmt.Sprintf("token_file: %v", err)}
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", &sdk.Error{Code: "bad_config", Message: fmt.Sprintf("token_file %s is empty", c.TokenFile)}
	}
	return t, nil
}

// index returns the models, fetching the index when it is stale (or when refresh is set and
// the last fetch is older than missRefetch).
func (s *source) index(ctx context.Context, refresh bool) ([]entry, error) {
	s.mu.Lock()
	age := s.now().Sub(s.fetched)
	fresh := !s.fetched.IsZero() && age < indexTTL && (!refresh || age < missRefetch)
	models, base := s.models, s.base
	s.mu.Unlock()
	if fresh {
		return models, nil
	}
	tok, err := s.token()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, &sdk.Error{Code: "unavailable", Message: fmt.Sprintf("read the registry index: %v", err), Retryable: true}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, &sdk.Error{Code: "auth", Message: fmt.Sprintf("the registry refused the token (%s): check token_env / token_file", resp.Status)}
	case resp.StatusCode != http.StatusOK:
		return nil, &sdk.Error{Code: "unavailable", Message: fmt.Sprintf("registry index %s answered %s", base, resp.Status), Retryable: resp.StatusCode >= 500}
	}
	var ix index
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxIndex))
	if err := dec.Decode(&ix); err != nil {
		return nil, &sdk.Error{Code: "bad_index", Message: fmt.Sprintf("registry index %s is not the documented JSON: %v", base, err)}
	}
	models = make([]entry, 0, len(ix.Models))
	for _, m := range ix.Models {
		u, err := base.Parse(m.URL)
		if err != nil || m.Name == "" || m.URL == "" {
			continue
		}
		m.URL = u.String()
		m.SHA256 = strings.ToLower(m.SHA256)
		models = append(models, m)
	}
	s.mu.Lock()
	s.models, s.fetched = models, s.now()
	s.mu.Unlock()
	return models, nil
}

// ResolveModel answers a download (Reference: "registry:<name>", "registry:<folder>/<name>"
// or one of the registry's own URLs) or a needed model (Query: by sha256, else by file name
// and folder).
func (s *source) ResolveModel(ctx context.Context, req sdk.ResolveRequest) (sdk.ResolveResponse, error) {
	if req.Reference != "" && !s.mayBeMine(req.Reference) {
		return sdk.ResolveResponse{}, nil
	}
	hits, err := s.lookup(ctx, req, false)
	if err == nil && len(hits) == 0 {
		hits, err = s.lookup(ctx, req, true)
	}
	if err != nil {
		return sdk.ResolveResponse{}, err
	}
	tok, err := s.token()
	if err != nil {
		return sdk.ResolveResponse{}, err
	}
	var out sdk.ResolveResponse
	for _, h := range hits {
		out.Candidates = append(out.Candidates, sdk.Download{
			ModelCandidate: sdk.ModelCandidate{Source: "registry", URL: h.entry.URL, Filename: path.Base(h.entry.Name), Folder: h.entry.Folder,
				SHA256: h.entry.SHA256, Size: h.entry.Size, Reference: "registry:" + h.entry.Folder + "/" + h.entry.Name, Confidence: h.confidence},
			Headers: map[string]string{"Authorization": "Bearer " + tok}})
	}
	return out, nil
}

// mayBeMine is a cheap pre-check that keeps other sources' references from costing an index
// fetch.
func (s *source) mayBeMine(ref string) bool {
	if strings.HasPrefix(ref, "registry:") {
		return true
	}
	u, err := url.Parse(ref)
	s.mu.Lock()
	base := s.base
	s.mu.Unlock()
	return err == nil && base != nil && strings.EqualFold(u.Host, base.Host)
}

type hit struct {
	entry      entry
	confidence float64
}

func (s *source) lookup(ctx context.Context, req sdk.ResolveRequest, refresh bool) ([]hit, error) {
	models, err := s.index(ctx, refresh)
	if err != nil {
		return nil, err
	}
	var out []hit
	if ref := req.Reference; ref != "" {
		want := strings.TrimPrefix(ref, "registry:")
		for _, m := range models {
			if m.URL == ref || m.Name == want || m.Folder+"/"+m.Name == want {
				return []hit{{m, 1}}, nil
			}
		}
		return nil, nil
	}
	q := req.Query
	for _, m := range models {
		switch {
		case q.SHA256 != "" && strings.EqualFold(q.SHA256, m.SHA256):
			out = append(out, hit{m, 1})
		case q.SHA256 == "" && sameName(q.Name, m.Name) && (q.Folder == "" || strings.EqualFold(q.Folder, m.Folder)):
			// A name and folder match of a model whose hash the registry vouches for: the agent
			// verifies the download against that hash.
			out = append(out, hit{m, 1})
		}
	}
	return out, nil
}

// sameName compares a workflow's file name (maybe "sub/dir/x.safetensors", maybe with
// Windows separators) with an index name.
func sameName(a, b string) bool {
	a = strings.ReplaceAll(a, "\\", "/")
	return a == b || path.Base(a) == path.Base(b) && !strings.Contains(b, "/")
}
