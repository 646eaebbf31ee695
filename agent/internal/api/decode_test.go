package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// TestDecodeJSONNamesFieldsInAPIWords: a wrong type names the field by its JSON path and the
// expected kind as spec/api.md would, never a Go type.
func TestDecodeJSONNamesFieldsInAPIWords(t *testing.T) {
	t.Parallel()
	type gpu struct {
		Index *int `json:"index"`
	}
	type body struct {
		Name   string            `json:"name"`
		Port   int64             `json:"port"`
		Scale  float64           `json:"scale"`
		Force  *bool             `json:"force"`
		Args   []string          `json:"launch_args"`
		Env    map[string]string `json:"env"`
		GPU    gpu               `json:"gpu"`
		Ids    []int             `json:"ids"`
		Flags  []bool            `json:"flags"`
		Nested [][]string        `json:"nested"`
	}
	for _, tc := range []struct{ body, want string }{
		{`{"name": 5}`, `field "name" must be a string, got a number`},
		{`{"port": "4000"}`, `field "port" must be a whole number, got a string`},
		{`{"port": 1.5}`, `field "port" must be a whole number, got the number 1.5`},
		{`{"scale": "x"}`, `field "scale" must be a number, got a string`},
		{`{"force": "yes"}`, `field "force" must be true or false, got a string`},
		{`{"launch_args": "--cpu"}`, `field "launch_args" must be an array of strings, got a string`},
		{`{"env": []}`, `field "env" must be an object, got an array`},
		{`{"gpu": {"index": "0"}}`, `field "gpu.index" must be a whole number, got a string`},
		{`{"ids": [true]}`, `field "ids" must be a whole number, got true or false`},
		{`{"flags": 1}`, `field "flags" must be an array of booleans, got a number`},
		{`{"nested": {}}`, `field "nested" must be an array of arrays, got an object`},
		{`[1, 2]`, `request body must be an object, got an array`},
	} {
		r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(tc.body))
		var v body
		err := DecodeJSON(httptest.NewRecorder(), r, &v, 0)
		if !apierr.Is(err, apierr.Invalid) {
			t.Errorf("%s: error %v is not a 400", tc.body, err)
			continue
		}
		msg := err.Error()
		if msg != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.body, msg, tc.want)
		}
		for _, goWord := range []string{"int64", "float64", "[]string", "map[", "*bool", "api.", "interface"} {
			if strings.Contains(msg, goWord) {
				t.Errorf("%s: message %q shows the Go type %q", tc.body, msg, goWord)
			}
		}
	}
}
