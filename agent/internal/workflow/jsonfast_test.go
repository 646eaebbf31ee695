package workflow

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/workflow/workflowtest"
)

// checkFastMatchesStdlib: whatever parseJSONFast accepts, it reads exactly as encoding/json
// does; whatever encoding/json rejects, it rejects too.
func checkFastMatchesStdlib(t *testing.T, b []byte) {
	t.Helper()
	var want any
	stdErr := json.Unmarshal(b, &want)
	got, ok := parseJSONFast(b, 10000, nil)
	switch {
	case stdErr != nil && ok:
		t.Fatalf("fast parser accepted %q, which encoding/json rejects: %v", clip(b), stdErr)
	case ok && !reflect.DeepEqual(got, want):
		t.Fatalf("fast parser read %q differently:\n got %#v\nwant %#v", clip(b), got, want)
	}
}

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func TestJSONFastMatchesStdlib(t *testing.T) {
	t.Parallel()
	cases := []string{
		`{}`, `[]`, `{"a":1,"a":2}`, `[0,-0,1.5e3,1E-2,4095,4096,-1,0.0,123456789012345678901234567890]`,
		`{"s":"plain","e":"a\"b\\c\/d\b\f\n\r\t","u":"\u00e9\u4e2d\ud83d\ude00"}`,
		`"\ud800"`, `"\udc00\ud800"`, `"bad \x"`, "\"ctl \x01\"", "\"\xff\xfe\"", `"é ünïcode"`,
		`[1,]`, `{"a":1,}`, `{"a" 1}`, `01`, `1.`, `.5`, `-`, `1e`, `1e400`, `tru`, `nul`, `[1 2]`,
		`{"a":[{"b":[true,false,null]}]}`, ` { "a" : "b" } `, `{"a":1} x`, `[`, `{"a":`, `"abc`,
	}
	for _, c := range cases {
		checkFastMatchesStdlib(t, []byte(c))
	}
	files, _ := filepath.Glob("testdata/workflows/*.json")
	if dir := filepath.Join(sharedCorpus, "workflows"); dirExists(dir) {
		more, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		files = append(files, more...)
	}
	if len(files) == 0 {
		t.Fatal("no workflow files")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := parseJSONFast(b, 10000, nil); !ok {
			t.Errorf("%s: the fast parser refused a real workflow (it would take the slow path)", f)
		}
		checkFastMatchesStdlib(t, b)
	}
}

func TestJSONFastDepthAndSpans(t *testing.T) {
	t.Parallel()
	if _, ok := parseJSONFast([]byte(`[[[1]]]`), 2, nil); ok {
		t.Error("depth 3 accepted with a limit of 2")
	}
	if _, ok := parseJSONFast([]byte(`[[{"a":1}]]`), 3, nil); !ok {
		t.Error("depth 3 refused with a limit of 3")
	}
	body := []byte(`{"x": 1, "workflow_json" :  {"nodes": []} , "y": [2]}`)
	spans := map[string][2]int{}
	if _, ok := parseJSONFast(body, 10, spans); !ok {
		t.Fatal("refused")
	}
	if sp := spans["workflow_json"]; string(body[sp[0]:sp[1]]) != `{"nodes": []}` {
		t.Errorf("span = %q", body[sp[0]:sp[1]])
	}
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// FuzzJSONFast: the fast parser never accepts what encoding/json rejects and never reads a
// value differently.
func FuzzJSONFast(f *testing.F) {
	workflowtest.AddWorkflowSeeds(f, false)
	for _, s := range []string{`{"a":"\u00e9"}`, `[1e400]`, `"\ud800"`, `{"a":1,"a":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkFastMatchesStdlib(t, b) })
}
