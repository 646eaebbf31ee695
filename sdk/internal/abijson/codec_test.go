package abijson

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// checkDecode decodes data into a T with Decode and with json.Unmarshal and fails unless both
// give the same value, or both an error (the same one). It reports whether the fast path took
// data.
func checkDecode[T any](t testing.TB, data []byte) (fast bool) {
	t.Helper()
	var want, got, probe T
	errWant := json.Unmarshal(data, &want)
	errGot := Decode(data, &got)
	if (errWant == nil) != (errGot == nil) || (errWant != nil && errWant.Error() != errGot.Error()) {
		t.Fatalf("%T %q: Decode error %v, json.Unmarshal error %v", got, data, errGot, errWant)
	}
	if errWant == nil && !reflect.DeepEqual(want, got) {
		t.Fatalf("%T %q:\nDecode         %#v\njson.Unmarshal %#v", got, data, got, want)
	}
	fast = decodeFast(data, &probe)
	if fast && errWant != nil {
		t.Fatalf("%T %q: the fast path took input encoding/json refuses (%v)", got, data, errWant)
	}
	if !fast && !reflect.DeepEqual(probe, *new(T)) {
		t.Fatalf("%T %q: the fast path left %#v behind", got, data, probe)
	}
	return fast
}

func checkDecodeAll(t testing.TB, data []byte) {
	t.Helper()
	checkDecode[sdk.StrategyInput](t, data)
	checkDecode[sdk.ResolveRequest](t, data)
	checkDecode[sdk.ParseRequest](t, data)
	checkDecode[sdk.InitRequest](t, data)
}

// checkEncode fails unless Append encodes v as json.Marshal does (or fails as it does).
func checkEncode[T any](t testing.TB, v T) {
	t.Helper()
	want, errWant := json.Marshal(v)
	got, errGot := Append([]byte("prefix"), &v)
	if (errWant == nil) != (errGot == nil) {
		t.Fatalf("%#v: Append error %v, json.Marshal error %v", v, errGot, errWant)
	}
	if errWant != nil {
		if string(got) != "prefix" {
			t.Fatalf("%#v: Append failed but changed dst to %q", v, got)
		}
		return
	}
	if !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("%#v:\nAppend       %s\njson.Marshal prefix%s", v, got, want)
	}
}

// decodeSeeds are requests as the agent sends them and the awkward corners of JSON; the fuzz
// test starts from them.
var decodeSeeds = []string{
	`{"class":"unknown","message":"ERROR: No matching distribution found for torch==9.9","attempt":1,"elapsed_seconds":0}`,
	`{"class":"network","message":"x","exit_code":-128,"attempt":3,"elapsed_seconds":12.5,"function_name":"install_project"}`,
	` { "class" : "a" , "attempt" : 0 } `,
	`{"reference":"hf:org/repo/sub/model.safetensors@main","query":{"name":""}}`,
	`{"query":{"name":"sdxl/a.safetensors","folder":"checkpoints","url":"https://x/a?b=1&c=<2>","sha256":"ab","node_type":"CheckpointLoaderSimple"}}`,
	`{"format":"api","nodes":[{"id":"1","type":"AcmeLoader","inputs":{"ckpt":"acme-v3.safetensors"}},{"id":"2","type":"KSampler","inputs":{"seed":1,"steps":20}}]}`,
	`{"format":"ui","nodes":[{"id":"3","type":"X","inputs":{"a":[1,"b",null,true,false,{"c":{}}],"e":-0.5e-3},"widgets":["w",2,[],{}],"inactive":true}],"workflow":{"nodes":[],"links":[[1,2]]},"options":{"k":"v"}}`,
	`{"format":"ui","nodes":[],"workflow":null,"options":{}}`,
	`{"nodes":null,"options":null}`,
	`{"nodes":[null]}`,
	`{"host_version":"0.1.0","config":{"loaders":[{"node_type":"AcmeLoader","input":"ckpt","folder":"checkpoints"}]}}`,
	`{"host_version":"0.1.0","config":null}`,
	`{"host_version":"0.1.0"}`,
	`{}`,
	// strings: escapes, surrogates, invalid UTF-8, control characters
	`{"class":"a\"b\\c\/d\b\f\n\r\t\u00e9\u2028\ud83d\ude00","message":"\ud800","function_name":"\udc00\u0041"}`,
	"{\"message\":\"caf\xc3\xa9 \xff\xfe ok\"}",
	"{\"message\":\"tab\there\"}",
	`{"message":"bad \x escape"}`,
	`{"message":"bad \u12 escape"}`,
	`{"message":"\'"}`,
	`{"inputs":"x","nodes":[{"inputs":{"k\u0041":"v","k\u0041":"w"}}]}`,
	// keys the fast path leaves to encoding/json: case folding, escapes, duplicates, unknown
	`{"CLASS":"x","Attempt":2}`,
	`{"cl\u0061ss":"x"}`,
	`{"class":"a","class":"b"}`,
	`{"nodes":[{"id":"1"}],"nodes":[{"type":"t"}]}`,
	`{"unknown":{"deep":[1,2,3]},"class":"x"}`,
	// type mismatches and numbers
	`{"attempt":"1"}`,
	`{"attempt":1.5}`,
	`{"attempt":1e2}`,
	`{"attempt":9223372036854775807}`,
	`{"attempt":9223372036854775808}`,
	`{"attempt":-9223372036854775808}`,
	`{"elapsed_seconds":1e400}`,
	`{"elapsed_seconds":-0}`,
	`{"elapsed_seconds":01}`,
	`{"elapsed_seconds":1.}`,
	`{"elapsed_seconds":.5}`,
	`{"elapsed_seconds":+1}`,
	`{"nodes":[{"inputs":{"x":1e999}}]}`,
	`{"nodes":{}}`,
	`{"query":[]}`,
	`{"options":{"a":null}}`,
	`{"options":{"a":1}}`,
	`{"class":null,"attempt":null,"query":null,"config":null,"inactive":null}`,
	`{"nodes":[{"inactive":true,"widgets":null,"inputs":null}]}`,
	// malformed documents
	``, ` `, `null`, `[]`, `"x"`, `1`, `{`, `{"class"`, `{"class":}`, `{"class":"x",}`, `{,}`,
	`{"class":"x"} {}`, `{"class":"x"}x`, `{"nodes":[1,]}`, `{"nodes":[{"id":"1"}}`,
	`{"workflow":{"a":tru}}`, `{"workflow":{"a":nul}}`, `{"workflow":[01]}`, "{\"workflow\":{\"a\x01\":1}}",
	`{"config":{"k":"v","k":"w"}}`, `{"config":{"\u0041":1}}`,
	strings.Repeat(`{"workflow":`, 300) + `1` + strings.Repeat(`}`, 300),
	`{"workflow":` + strings.Repeat(`[`, 300) + strings.Repeat(`]`, 300) + `}`,
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range decodeSeeds {
		checkDecodeAll(t, []byte(s))
	}
}

// TestDecodeFastPath guards the speed: what the agent sends must not fall back to
// encoding/json.
func TestDecodeFastPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fast func(testing.TB, []byte) bool
		req  any
	}{
		{"strategy", checkDecode[sdk.StrategyInput], sdk.StrategyInput{Class: "unknown", Message: "ERROR: <No> matching & distribution \u2028 é", ExitCode: 2, Attempt: 1, Elapsed: 1.25, Function: "install_project"}},
		{"resolve", checkDecode[sdk.ResolveRequest], sdk.ResolveRequest{Reference: "hf:org/repo/sub/model.safetensors@main"}},
		{"resolve query", checkDecode[sdk.ResolveRequest], sdk.ResolveRequest{Query: sdk.ModelQuery{Name: "a.safetensors", Folder: "loras", URL: "https://x/y?a=1&b=2", SHA256: "00ff", NodeType: "LoraLoader"}}},
		{"parse", checkDecode[sdk.ParseRequest], sdk.ParseRequest{Format: "ui", Raw: json.RawMessage(`{"nodes":[{"id":1,"widgets_values":["a.safetensors",1.5,null,true]}]}`),
			Options: map[string]string{"a": "b"}, Nodes: []sdk.WorkflowNode{
				{ID: "1", Type: "CheckpointLoaderSimple", Inputs: map[string]any{"ckpt_name": "a.safetensors", "n": 1e-7, "l": []any{"x", 2.0, nil}, "m": map[string]any{"k": false}}},
				{ID: "2", Type: "KSampler", Widgets: []any{1.0, "euler", true}, Inactive: true},
				{ID: "3", Type: "Empty", Inputs: map[string]any{}, Widgets: []any{}},
			}}},
		{"init", checkDecode[sdk.InitRequest], sdk.InitRequest{HostVersion: "0.1.0", Config: json.RawMessage(`{"mirror":"https://mirror.example/m","n":[1,2.5e3,"\u00e9"]}`)}},
		{"init no config", checkDecode[sdk.InitRequest], sdk.InitRequest{HostVersion: "dev"}},
	} {
		raw, err := json.Marshal(tc.req)
		if err != nil {
			t.Fatal(err)
		}
		if !tc.fast(t, raw) {
			t.Errorf("%s: %s fell back to encoding/json", tc.name, raw)
		}
	}
}

// encodeCases are answers with every field set, every field empty, and the strings and
// numbers encoding/json treats specially.
func encodeCases() []any {
	odd := "<a href=\"x&y\">\\ \u2028\u2029 \x00\x1f\x7f\b\f\n\r\t é 😀 \xff\xc3"
	return []any{
		sdk.StrategyDecision{},
		sdk.StrategyDecision{NotMine: true},
		sdk.StrategyDecision{Retry: true, DelaySeconds: -1, Class: "network", Suggestion: odd},
		sdk.StrategyDecision{DelaySeconds: 1e21}, sdk.StrategyDecision{DelaySeconds: 1e-7},
		sdk.StrategyDecision{DelaySeconds: 123456789.125}, sdk.StrategyDecision{DelaySeconds: math.Copysign(0, -1)},
		sdk.StrategyDecision{DelaySeconds: 1e-6}, sdk.StrategyDecision{DelaySeconds: 5e-324}, sdk.StrategyDecision{DelaySeconds: math.MaxFloat64},
		sdk.StrategyDecision{DelaySeconds: math.NaN()}, sdk.StrategyDecision{DelaySeconds: math.Inf(-1)},
		sdk.ParseResult{},
		sdk.ParseResult{Models: []sdk.ModelRef{}, Packs: []sdk.PackRef{}, Tags: []string{}, Warnings: []string{}},
		sdk.ParseResult{Tags: []string{"a"}},
		sdk.ParseResult{Warnings: []string{odd, ""}},
		sdk.ParseResult{
			Models: []sdk.ModelRef{{}, {Filename: odd, Folder: "checkpoints", NodeID: "1", NodeType: "T", Input: "ckpt", URL: "https://x?a&b", SHA256: "ab", Size: -5}},
			Packs:  []sdk.PackRef{{NodeType: "T", Repo: "https://github.com/a/b"}, {}},
			Tags:   []string{"sdxl"}, Warnings: []string{"w"},
		},
		sdk.ResolveResponse{},
		sdk.ResolveResponse{Candidates: []sdk.Download{}},
		sdk.ResolveResponse{Candidates: []sdk.Download{
			{},
			{ModelCandidate: sdk.ModelCandidate{Source: "mirror", URL: "https://m/x", Filename: "x", Folder: "loras", SHA256: "00", Size: 1 << 40,
				Reference: "hf:a/b/c@main", Confidence: 0.5, Headers: map[string]string{"Hidden": "yes"}},
				Headers: map[string]string{"b": "2", "a": odd, "Authorization": "Bearer t"}},
			{ModelCandidate: sdk.ModelCandidate{Confidence: math.Inf(1)}},
			{Headers: map[string]string{}},
		}},
		sdk.Manifest{}, sdk.Manifest{Name: "n", Version: odd, ABIMinor: -3, Capabilities: []sdk.Capability{}},
		sdk.Manifest{Name: "n", Capabilities: []sdk.Capability{sdk.CapWorkflowParser, "<odd>"}},
		&sdk.Error{}, &sdk.Error{Code: "bad_request", Message: odd, Retryable: true}, sdk.Error{Code: "x"}, (*sdk.Error)(nil),
		// not an ABI answer type: json.Marshal's
		other[map[string]int]{map[string]int{"b": 1, "a": 2}}, other[[]string]{[]string{"<"}}, other[any]{nil}, other[chan int]{make(chan int)},
		other[*sdk.StrategyDecision]{&sdk.StrategyDecision{Class: "<pointer>"}},
	}
}

// checkAny runs checkEncode with v's own type: answers by value (as the guest SDK passes
// them), errors by pointer, other types wrapped.
func checkAny(t testing.TB, v any) {
	t.Helper()
	switch x := v.(type) {
	case sdk.StrategyDecision:
		checkEncode(t, x)
	case sdk.ParseResult:
		checkEncode(t, x)
	case sdk.ResolveResponse:
		checkEncode(t, x)
	case sdk.Manifest:
		checkEncode(t, x)
	case sdk.Error:
		checkEncode(t, x)
	case *sdk.Error:
		checkEncodePtr(t, x)
	case interface{ check(testing.TB) }:
		x.check(t)
	default:
		t.Fatalf("no check for %T", v)
	}
}

// other wraps a value of a type Append leaves to json.Marshal.
type other[T any] struct{ v T }

func (o other[T]) check(t testing.TB) { t.Helper(); checkEncode(t, o.v) }

// checkEncodePtr is checkEncode for Append(dst, p), p possibly nil, against json.Marshal(p).
func checkEncodePtr[T any](t testing.TB, p *T) {
	t.Helper()
	want, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Append(nil, p)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%#v: Append %s, %v; json.Marshal %s", p, got, err, want)
	}
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, v := range encodeCases() {
		checkAny(t, v)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecodeAll(t, data) })
}

func FuzzEncode(f *testing.F) {
	f.Add("unknown", "pip <failed> & \u2028", 1.5, int64(3), true)
	f.Add("", "\xff\x00\"\\", -1e-9, int64(-1), false)
	f.Add("é", "😀", 1e21, int64(1)<<62, true)
	f.Fuzz(func(t *testing.T, s1, s2 string, fl float64, n int64, b bool) {
		checkEncode(t, sdk.StrategyDecision{NotMine: b, Retry: !b, DelaySeconds: fl, Class: s1, Suggestion: s2})
		checkEncodePtr(t, &sdk.Error{Code: s1, Message: s2, Retryable: b})
		checkEncode(t, sdk.Manifest{Name: s1, Version: s2, ABIMinor: int(n), Capabilities: []sdk.Capability{sdk.Capability(s2)}})
		checkEncode(t, sdk.ParseResult{
			Models: []sdk.ModelRef{{Filename: s1, Folder: s2, NodeID: s2, Size: n}},
			Packs:  []sdk.PackRef{{NodeType: s1, Repo: s2}}, Tags: []string{s1}, Warnings: []string{s2, s1},
		})
		checkEncode(t, sdk.ResolveResponse{Candidates: []sdk.Download{{
			ModelCandidate: sdk.ModelCandidate{Source: s1, URL: s2, Filename: s1, Reference: s2, Size: n, Confidence: fl},
			Headers:        map[string]string{s1: s2, s2: s1},
		}}})
		// Decoding what the agent would send with these values must match too.
		for _, req := range []any{
			sdk.StrategyInput{Class: s1, Message: s2, ExitCode: int(n), Attempt: int(n), Elapsed: fl, Function: s1},
			sdk.ResolveRequest{Reference: s1, Query: sdk.ModelQuery{Name: s2, URL: s1}},
			sdk.ParseRequest{Format: s1, Options: map[string]string{s1: s2}, Nodes: []sdk.WorkflowNode{{ID: s1, Type: s2, Inputs: map[string]any{s1: fl, s2: []any{s1, b, nil}}, Widgets: []any{n, s2}, Inactive: b}}},
		} {
			raw, err := json.Marshal(req)
			if err != nil {
				continue // NaN or ±Inf
			}
			checkDecodeAll(t, raw)
		}
	})
}

// BenchmarkCodec is the codec against encoding/json on the requests and answers of
// wasmhost's BenchmarkCall (natively; inside a guest the gap is far wider, see the package
// comment). Run: go test -run '^$' -bench Codec -benchmem ./sdk/internal/abijson/
func BenchmarkCodec(b *testing.B) {
	parse, _ := json.Marshal(sdk.ParseRequest{Format: "api", Nodes: []sdk.WorkflowNode{
		{ID: "1", Type: "AcmeLoader", Inputs: map[string]any{"ckpt": "acme-v3.safetensors"}},
		{ID: "2", Type: "KSampler", Inputs: map[string]any{"seed": 1.0, "steps": 20.0}},
	}})
	strategy, _ := json.Marshal(sdk.StrategyInput{Class: "unknown", Message: "ERROR: No matching distribution found for torch==9.9", Attempt: 1})
	decision := sdk.StrategyDecision{Class: "not_found", Suggestion: "pip found no release of a required package for this Python: check the package name and version pin, or point comfyui.pip_args at your index (--index-url / --extra-index-url)"}
	b.Run("decode parse/abijson", func(b *testing.B) {
		for b.Loop() {
			var v sdk.ParseRequest
			_ = Decode(parse, &v)
		}
	})
	b.Run("decode parse/encoding-json", func(b *testing.B) {
		for b.Loop() {
			var v sdk.ParseRequest
			_ = json.Unmarshal(parse, &v)
		}
	})
	b.Run("decode strategy/abijson", func(b *testing.B) {
		for b.Loop() {
			var v sdk.StrategyInput
			_ = Decode(strategy, &v)
		}
	})
	b.Run("decode strategy/encoding-json", func(b *testing.B) {
		for b.Loop() {
			var v sdk.StrategyInput
			_ = json.Unmarshal(strategy, &v)
		}
	})
	buf := make([]byte, 0, 1024)
	b.Run("encode decision/abijson", func(b *testing.B) {
		for b.Loop() {
			buf, _ = Append(buf[:0], &decision)
		}
	})
	b.Run("encode decision/encoding-json", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(decision)
		}
	})
}
