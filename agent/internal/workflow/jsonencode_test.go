package workflow

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// TestMarshalValueMatchesEncodingJSON: marshalValue gives json.Marshal's bytes for every test
// and corpus workflow and for the edge cases of escaping and number format.
func TestMarshalValueMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	var all []byte
	for i := range 256 {
		all = append(all, byte(i))
	}
	cases := []any{
		nil, true, false, "", "plain", string(all), "<a href=\"x\">&amp;</a>", "tab\tnl\nquote\"back\\",
		"\u2028\u2029 é 😀 \xff\xfe broken \xe2\x82", 0.0, math.Copysign(0, -1), 1.0, -1.5, 1e-6, 9.99e-7, 1e21, 9.99e20,
		1e-9, -2.5e-10, 123456789012345678.0, 0.1, 1.0 / 3, math.MaxFloat64, math.SmallestNonzeroFloat64,
		[]any{}, []any(nil), map[string]any{}, map[string]any(nil),
		map[string]any{"b": 1.0, "a": []any{map[string]any{"z": nil, "<": "&"}}, "\u00e9": "x", "": false},
	}
	for _, c := range cases {
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := marshalValue(c, 0)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("marshalValue(%#v) = %s, %v; json.Marshal gives %s", c, got, err, want)
		}
	}
	files, _ := filepath.Glob("testdata/workflows/*.json")
	corpus, _ := filepath.Glob(filepath.Join(sharedCorpus, "workflows", "*.json"))
	for _, f := range append(files, corpus...) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := parseJSONFast(raw, 128, nil)
		if !ok {
			continue
		}
		want, _ := json.Marshal(v)
		got, err := marshalValue(v, len(raw))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: marshalValue differs from json.Marshal (%v)", filepath.Base(f), err)
		}
	}
}

// TestMarshalValueFallsBack: a type outside the parser's shapes goes through json.Marshal.
func TestMarshalValueFallsBack(t *testing.T) {
	t.Parallel()
	v := map[string]any{"n": json.Number("12"), "i": 3, "s": []string{"a"}}
	want, _ := json.Marshal(v)
	got, err := marshalValue(v, 0)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %s, %v; want %s", got, err, want)
	}
	if _, err := marshalValue(math.Inf(1), 0); err == nil {
		t.Fatal("+Inf encoded without an error")
	}
}

// FuzzMarshalValue: for any JSON the fast parser reads, marshalValue equals json.Marshal.
func FuzzMarshalValue(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x<y"],"b":null}`, `"\u2028\ud83d\ude00"`, `[1e-7,1e21,-0,0.000001]`, `{"z":{},"y":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := parseJSONFast(b, 64, nil)
		if !ok {
			return
		}
		want, err := json.Marshal(v)
		if err != nil {
			return
		}
		got, err := marshalValue(v, len(b))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, %v; want %s", b, got, err, want)
		}
	})
}
