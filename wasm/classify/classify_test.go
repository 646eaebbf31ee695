package classify

import (
	"context"
	"encoding/json"
	"testing"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

func TestClassifies(t *testing.T) {
	s := &Strategy{}
	if err := s.Configure(json.RawMessage(`{"rules":[{"match":"Proxy Authentication Required","class":"auth","suggestion":"set proxy creds"}]}`)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		class, msg, want string
		retry            bool
	}{
		{"unknown", "pip install: ERROR: No matching distribution found for torch==9.9", "not_found", false},
		{"unknown", "git clone: fatal: unable to access 'https://github.com/x/y/': Could not resolve host: github.com", "network", true},
		{"auth", "download https://huggingface.co/org/gated/resolve/main/a.safetensors: 403 Forbidden", "auth", false},
		{"unknown", "git clone: fatal: '/srv/x' does not appear to be a git repository", "not_found", false},
		{"unknown", "ERROR: Failed building wheel for insightface", "not_found", false},
		{"unknown", "HTTP 407 Proxy Authentication Required", "auth", false},
		{"unknown", "something odd", "", false},
		{"network", "Could not resolve host: x", "", false},
	}
	for _, c := range cases {
		d, err := s.Decide(context.Background(), sdk.StrategyInput{Class: c.class, Message: c.msg})
		if err != nil {
			t.Fatal(err)
		}
		if c.want == "" {
			if !d.NotMine {
				t.Errorf("%q: claimed %+v", c.msg, d)
			}
			continue
		}
		if d.NotMine || d.Class != c.want || d.Retry != c.retry || d.Suggestion == "" || d.DelaySeconds != -1 {
			t.Errorf("%q: %+v, want class %s retry %v", c.msg, d, c.want, c.retry)
		}
	}
	if err := (&Strategy{}).Configure(json.RawMessage(`{"rules":[{"match":"x","class":"bogus"}]}`)); err == nil {
		t.Error("bad class accepted")
	}
}
