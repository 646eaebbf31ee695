package abijson

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// Append appends json.Marshal(*v) to dst: the ABI's answer types are encoded here, anything
// else (and values json.Marshal refuses, such as NaN) by json.Marshal, whose error is
// returned as is. v is taken by pointer and never escapes, so an answer on the caller's stack
// stays there.
func Append[T any](dst []byte, v *T) ([]byte, error) {
	if v == nil {
		return append(dst, "null"...), nil
	}
	e := encoder{b: dst}
	switch x := any(v).(type) {
	case *sdk.StrategyDecision:
		e.strategyDecision(x)
	case *sdk.ParseResult:
		e.parseResult(x)
	case *sdk.ResolveResponse:
		e.resolveResponse(x)
	case *sdk.Manifest:
		e.manifest(x)
	case *sdk.Error:
		e.error(x)
	default:
		e.failed = true
	}
	if !e.failed {
		return e.b, nil
	}
	tmp := new(T)
	*tmp = *v
	b, err := json.Marshal(tmp)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// encoder appends JSON to b; failed is set by a value it leaves to json.Marshal.
type encoder struct {
	b      []byte
	failed bool
}

// key appends `,"name":` (the comma unless first).
func (e *encoder) key(name string, first bool) {
	if !first {
		e.b = append(e.b, ',')
	}
	e.b = append(e.b, '"')
	e.b = append(e.b, name...)
	e.b = append(e.b, '"', ':')
}

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, "true"...)
	} else {
		e.b = append(e.b, "false"...)
	}
}

// float appends f as encoding/json formats a float64.
func (e *encoder) float(f float64) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		e.failed = true
		return
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	e.b = strconv.AppendFloat(e.b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(e.b)
		if n >= 4 && e.b[n-4] == 'e' && e.b[n-3] == '-' && e.b[n-2] == '0' {
			e.b[n-2] = e.b[n-1]
			e.b = e.b[:n-1]
		}
	}
}

const hex = "0123456789abcdef"

// str appends s quoted as encoding/json does (HTML-safe, U+2028/U+2029 escaped, invalid UTF-8
// replaced by U+FFFD).
func (e *encoder) str(s string) {
	b := append(e.b, '"')
	start := 0
	for i := 0; ; {
		i = scanEncode(s, i)
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	e.b = append(b, '"')
}

// strings appends a string slice: null when nil.
func (e *encoder) strings(v []string) {
	if v == nil {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, '[')
	for i, s := range v {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.str(s)
	}
	e.b = append(e.b, ']')
}

// stringMap appends a map with sorted keys: null when nil.
func (e *encoder) stringMap(m map[string]string) {
	if m == nil {
		e.b = append(e.b, "null"...)
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.b = append(e.b, '{')
	for i, k := range keys {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.str(k)
		e.b = append(e.b, ':')
		e.str(m[k])
	}
	e.b = append(e.b, '}')
}

func (e *encoder) strategyDecision(v *sdk.StrategyDecision) {
	e.b = append(e.b, '{')
	first := true
	if v.NotMine {
		e.key("not_mine", true)
		e.bool(true)
		first = false
	}
	e.key("retry", first)
	e.bool(v.Retry)
	e.key("delay_seconds", false)
	e.float(v.DelaySeconds)
	if v.Class != "" {
		e.key("class", false)
		e.str(v.Class)
	}
	if v.Suggestion != "" {
		e.key("suggestion", false)
		e.str(v.Suggestion)
	}
	e.b = append(e.b, '}')
}

func (e *encoder) error(v *sdk.Error) {
	e.b = append(e.b, '{')
	e.key("code", true)
	e.str(v.Code)
	e.key("message", false)
	e.str(v.Message)
	if v.Retryable {
		e.key("retryable", false)
		e.bool(true)
	}
	e.b = append(e.b, '}')
}

func (e *encoder) manifest(v *sdk.Manifest) {
	e.b = append(e.b, '{')
	e.key("name", true)
	e.str(v.Name)
	e.key("version", false)
	e.str(v.Version)
	e.key("abi_minor", false)
	e.b = strconv.AppendInt(e.b, int64(v.ABIMinor), 10)
	e.key("capabilities", false)
	if v.Capabilities == nil {
		e.b = append(e.b, "null"...)
	} else {
		e.b = append(e.b, '[')
		for i, c := range v.Capabilities {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.str(string(c))
		}
		e.b = append(e.b, ']')
	}
	e.b = append(e.b, '}')
}

func (e *encoder) parseResult(v *sdk.ParseResult) {
	e.b = append(e.b, '{')
	first := true
	if len(v.Models) > 0 {
		e.key("models", first)
		first = false
		e.b = append(e.b, '[')
		for i := range v.Models {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.modelRef(&v.Models[i])
		}
		e.b = append(e.b, ']')
	}
	if len(v.Packs) > 0 {
		e.key("packs", first)
		first = false
		e.b = append(e.b, '[')
		for i, p := range v.Packs {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b = append(e.b, '{')
			e.key("node_type", true)
			e.str(p.NodeType)
			e.key("repo", false)
			e.str(p.Repo)
			e.b = append(e.b, '}')
		}
		e.b = append(e.b, ']')
	}
	if len(v.Tags) > 0 {
		e.key("tags", first)
		first = false
		e.strings(v.Tags)
	}
	if len(v.Warnings) > 0 {
		e.key("warnings", first)
		e.strings(v.Warnings)
	}
	e.b = append(e.b, '}')
}

// optString appends `,"name":"s"` when s is not empty (omitempty after a first field).
func (e *encoder) optString(name, s string) {
	if s != "" {
		e.key(name, false)
		e.str(s)
	}
}

func (e *encoder) modelRef(m *sdk.ModelRef) {
	e.b = append(e.b, '{')
	e.key("filename", true)
	e.str(m.Filename)
	e.key("folder", false)
	e.str(m.Folder)
	e.optString("node_id", m.NodeID)
	e.optString("node_type", m.NodeType)
	e.optString("input", m.Input)
	e.optString("url", m.URL)
	e.optString("sha256", m.SHA256)
	if m.Size != 0 {
		e.key("size", false)
		e.b = strconv.AppendInt(e.b, m.Size, 10)
	}
	e.b = append(e.b, '}')
}

func (e *encoder) resolveResponse(v *sdk.ResolveResponse) {
	e.b = append(e.b, '{')
	if len(v.Candidates) > 0 {
		e.key("candidates", true)
		e.b = append(e.b, '[')
		for i := range v.Candidates {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.download(&v.Candidates[i])
		}
		e.b = append(e.b, ']')
	}
	e.b = append(e.b, '}')
}

// download appends a Download: the embedded ModelCandidate's fields (its Headers is "-"),
// then the Download's own headers.
func (e *encoder) download(d *sdk.Download) {
	e.b = append(e.b, '{')
	e.key("source", true)
	e.str(d.Source)
	e.key("url", false)
	e.str(d.URL)
	e.key("filename", false)
	e.str(d.Filename)
	e.optString("folder", d.Folder)
	e.optString("sha256", d.SHA256)
	if d.Size != 0 {
		e.key("size", false)
		e.b = strconv.AppendInt(e.b, d.Size, 10)
	}
	e.optString("reference", d.Reference)
	if d.Confidence != 0 {
		e.key("confidence", false)
		e.float(d.Confidence)
	}
	if len(d.Headers) > 0 {
		e.key("headers", false)
		e.stringMap(d.Headers)
	}
	e.b = append(e.b, '}')
}
