package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

const houseSHA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// registry is a loopback model registry: an index behind a bearer token.
type registry struct {
	*httptest.Server
	token   atomic.Value
	fetches atomic.Int32
	models  atomic.Value // []entry
}

func newRegistry(t *testing.T, token string) *registry {
	t.Helper()
	r := &registry{}
	r.token.Store(token)
	r.models.Store([]entry{{Name: "house-v3.safetensors", Folder: "checkpoints", SHA256: strings.ToUpper(houseSHA), Size: 7, URL: "files/house-v3.safetensors"}})
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != "Bearer "+r.token.Load().(string) {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		r.fetches.Add(1)
		json.NewEncoder(w).Encode(index{Models: r.models.Load().([]entry)})
	}))
	t.Cleanup(r.Close)
	return r
}

func configured(t *testing.T, r *registry, cfg string) (*source, error) {
	t.Helper()
	s := newSource(r.Client())
	return s, s.configure(context.Background(), sdk.InitRequest{Config: json.RawMessage(cfg)})
}

func TestResolveByNameHashReferenceAndURL(t *testing.T) {
	r := newRegistry(t, "tok")
	tokFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokFile, []byte("tok\n"), 0o600)
	s, err := configured(t, r, `{"url":"`+r.URL+`/v1/index.json","token_file":"`+tokFile+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := r.URL + "/v1/files/house-v3.safetensors"
	for name, req := range map[string]sdk.ResolveRequest{
		"name and folder":                     {Query: sdk.ModelQuery{Name: "house-v3.safetensors", Folder: "checkpoints"}},
		"name in a subfolder, folder unknown": {Query: sdk.ModelQuery{Name: `sdxl\house-v3.safetensors`}},
		"hash":                                {Query: sdk.ModelQuery{Name: "renamed.safetensors", SHA256: houseSHA}},
		"reference":                           {Reference: "registry:checkpoints/house-v3.safetensors"},
		"own URL":                             {Reference: want},
	} {
		out, err := s.ResolveModel(context.Background(), req)
		if err != nil || len(out.Candidates) != 1 {
			t.Fatalf("%s: %+v, %v", name, out, err)
		}
		c := out.Candidates[0]
		if c.URL != want || c.SHA256 != houseSHA || c.Size != 7 || c.Folder != "checkpoints" || c.Confidence != 1 || c.Headers["Authorization"] != "Bearer tok" {
			t.Fatalf("%s: candidate %+v", name, c)
		}
	}
	for name, req := range map[string]sdk.ResolveRequest{
		"other folder":    {Query: sdk.ModelQuery{Name: "house-v3.safetensors", Folder: "loras"}},
		"other hash":      {Query: sdk.ModelQuery{Name: "house-v3.safetensors", SHA256: strings.Repeat("b", 64)}},
		"other reference": {Reference: "hf:org/repo/house-v3.safetensors"},
	} {
		if out, err := s.ResolveModel(context.Background(), req); err != nil || len(out.Candidates) != 0 {
			t.Fatalf("%s: %+v, %v (want not mine)", name, out, err)
		}
	}
}

func TestIndexIsCachedAndRefetchedOnAMiss(t *testing.T) {
	r := newRegistry(t, "tok")
	t.Setenv("REG_TOKEN", "tok")
	s, err := configured(t, r, `{"url":"`+r.URL+`/index.json","token_env":"REG_TOKEN"}`)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	s.fetched = now
	hit := sdk.ResolveRequest{Query: sdk.ModelQuery{Name: "house-v3.safetensors"}}
	s.ResolveModel(context.Background(), hit)
	if n := r.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want the index from configure reused", n)
	}
	r.models.Store(append(r.models.Load().([]entry), entry{Name: "new.safetensors", Folder: "loras", SHA256: houseSHA, URL: "/x/new.safetensors"}))
	miss := sdk.ResolveRequest{Query: sdk.ModelQuery{Name: "new.safetensors"}}
	if out, _ := s.ResolveModel(context.Background(), miss); len(out.Candidates) != 0 {
		t.Fatal("a miss right after a fetch must not refetch")
	}
	now = now.Add(missRefetch)
	out, err := s.ResolveModel(context.Background(), miss)
	if err != nil || len(out.Candidates) != 1 || out.Candidates[0].URL != r.URL+"/x/new.safetensors" {
		t.Fatalf("after missRefetch: %+v, %v", out, err)
	}
}

func TestUnreachableRegistryAtLoadIsNotAConfigError(t *testing.T) {
	r := newRegistry(t, "tok")
	t.Setenv("REG_TOKEN", "tok")
	url := r.URL
	r.Close() // the registry is down when the agent starts
	s, err := configured(t, r, `{"url":"`+url+`/index.json","token_env":"REG_TOKEN"}`)
	if err != nil {
		t.Fatalf("configure with the registry down: %v", err)
	}
	_, err = s.ResolveModel(context.Background(), sdk.ResolveRequest{Query: sdk.ModelQuery{Name: "house-v3.safetensors"}})
	var xe *sdk.Error
	if !errors.As(err, &xe) || !xe.Retryable || xe.Code != "unavailable" {
		t.Fatalf("resolve with the registry down: %v", err)
	}
}

func TestConfigAndAuthErrorsSayWhatToFix(t *testing.T) {
	r := newRegistry(t, "right")
	t.Setenv("REG_WRONG", "wrong")
	for cfg, want := range map[string]string{
		`{"url":"ftp://x","token_env":"REG_WRONG"}`:             "must be the http(s) URL",
		`{"url":"` + r.URL + `"}`:                               "set token_env",
		`{"url":"` + r.URL + `","token_env":"REG_UNSET_VAR"}`:   "REG_UNSET_VAR (token_env) is empty or not set",
		`{"url":"` + r.URL + `","token_env":"REG_WRONG"}`:       "the registry refused the token (401",
		`{"url":"` + r.URL + `","token_file":"/nonexistent/t"}`: "token_file:",
		`{"url":"` + r.URL + `","tokn_env":"X"}`:                `unknown field "tokn_env"`,
	} {
		_, err := configured(t, r, cfg)
		var xe *sdk.Error
		if !errors.As(err, &xe) || !strings.Contains(xe.Error(), want) {
			t.Errorf("config %s: %v, want %q", cfg, err, want)
		}
	}
}
