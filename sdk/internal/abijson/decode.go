// Package abijson is the WASM guest SDK's JSON codec for the cmfy ABI's own request and answer
// types (sdk/extension): the same values and bytes as encoding/json, without reflection.
//
// Inside a wasip1 guest every Go call and loop iteration is expensive (wazero checks for a
// closed module at each loop header), and encoding/json's scanner makes a call per byte plus
// reflection per field: ~135 µs for a 150-byte request. This codec decodes and encodes the ABI
// types with few calls and falls back to encoding/json for anything it does not cover, so
// the result is always what encoding/json gives:
//
//   - Decode takes a fast path only for input it can decode exactly as encoding/json would
//     (valid JSON, keys spelled as the json tags, no duplicate keys, values of the field's
//     type); anything else, malformed input included, is decoded by json.Unmarshal, which
//     produces the same value or the same error.
//   - Append encodes the answer types byte for byte as json.Marshal (HTML escaping, U+2028/9,
//     invalid UTF-8 replacement, float format, omitempty, nil vs empty slices); other types,
//     and values json.Marshal refuses (NaN, ±Inf), go through json.Marshal.
//
// The package is plain Go so the native tests and fuzz tests compare it with encoding/json.
package abijson

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// Decode decodes data into v as json.Unmarshal does. v should hold its zero value: when the
// fast path does not apply, json.Unmarshal decodes into a fresh value that is then copied to
// v (so v itself never escapes: a caller's request can stay on its stack).
func Decode[T any](data []byte, v *T) error {
	if decodeFast(data, v) {
		return nil
	}
	tmp := new(T)
	err := json.Unmarshal(data, tmp)
	*v = *tmp
	return err
}

// decodeFast decodes the ABI's request types when data is in the fast path's reach; when it
// is not, it leaves v zero and reports false.
func decodeFast(data []byte, v any) bool {
	d := decoder{s: string(data), shared: len(data) <= maxShared}
	ok := false
	d.ws()
	switch p := v.(type) {
	case *sdk.StrategyInput:
		if ok = d.strategyInput(p) && d.end(); !ok {
			*p = sdk.StrategyInput{}
		}
	case *sdk.ResolveRequest:
		if ok = d.resolveRequest(p) && d.end(); !ok {
			*p = sdk.ResolveRequest{}
		}
	case *sdk.ParseRequest:
		if ok = d.parseRequest(p) && d.end(); !ok {
			*p = sdk.ParseRequest{}
		}
	case *sdk.InitRequest:
		if ok = d.initRequest(p) && d.end(); !ok {
			*p = sdk.InitRequest{}
		}
	}
	return ok
}

// maxDepth bounds the fast path's recursion; deeper input goes to encoding/json.
const maxDepth = 200

// decoder reads one JSON document from b; every method reports false for input the fast path
// does not take (the caller then falls back to encoding/json).
//
// The decoder reads a string copy of the input (one allocation, one bulk copy) and decoded
// strings without escapes are substrings of it: no allocation per string. Such a string keeps
// the whole request alive while an extension keeps it, which for requests up to maxShared
// bytes is cheaper than copying each string; larger ones copy each string.
type decoder struct {
	s      string
	i      int
	depth  int
	shared bool
	bad    bool // set by nextKey on a malformed object
}

// maxShared is the largest input whose decoded strings share one copy of it.
const maxShared = 64 << 10

// end reports whether only whitespace follows.
func (d *decoder) end() bool {
	d.ws()
	return d.i == len(d.s)
}

func (d *decoder) ws() {
	if d.i < len(d.s) && d.s[d.i] > ' ' { // the common case, without entering a loop
		return
	}
	d.wsLoop()
}

func (d *decoder) wsLoop() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek reports whether the next byte is c.
func (d *decoder) peek(c byte) bool { return d.i < len(d.s) && d.s[d.i] == c }

// null consumes a null literal if one is next.
func (d *decoder) null() bool {
	if len(d.s)-d.i >= 4 && string(d.s[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

func (d *decoder) boolean() (v, ok bool) {
	if len(d.s)-d.i >= 4 && string(d.s[d.i:d.i+4]) == "true" {
		d.i += 4
		return true, true
	}
	if len(d.s)-d.i >= 5 && string(d.s[d.i:d.i+5]) == "false" {
		d.i += 5
		return false, true
	}
	return false, false
}

// keyMode says what nextKey does with an object's keys.
type keyMode int

const (
	// rawKeys takes the key as is, refusing one with an escape or non-ASCII: for struct
	// fields, where only the exact field names are taken anyway.
	rawKeys keyMode = iota
	// decodedKeys decodes each key (map keys).
	decodedKeys
	// validKeys only validates them (skipped values).
	validKeys
)

// array reads an array, calling each for every element.
func (d *decoder) array(each func() bool) bool {
	if !d.peek('[') {
		return false
	}
	d.i++
	d.depth++
	if d.depth > maxDepth {
		return false
	}
	d.ws()
	if d.peek(']') {
		d.i++
		d.depth--
		return true
	}
	for {
		if !each() {
			return false
		}
		d.ws()
		if d.peek(',') {
			d.i++
			d.ws()
			continue
		}
		if d.peek(']') {
			d.i++
			d.depth--
			return true
		}
		return false
	}
}

// str reads a string as encoding/json decodes it: escapes resolved, invalid UTF-8 replaced.
func (d *decoder) str() (string, bool) {
	if !d.peek('"') {
		return "", false
	}
	start := d.i + 1
	for i := start; ; {
		i = scanDecode(d.s, i)
		if i >= len(d.s) {
			return "", false
		}
		c := d.s[i]
		if c == '"' {
			d.i = i + 1
			if d.shared {
				return d.s[start:i], true
			}
			return strings.Clone(d.s[start:i]), true
		}
		if c < utf8.RuneSelf { // an escape or a control character
			return d.strSlow(start)
		}
		r, size := utf8.DecodeRuneInString(d.s[i:])
		if r == utf8.RuneError && size == 1 {
			return d.strSlow(start)
		}
		i += size
	}
}

// strSlow decodes a string with escapes or invalid UTF-8 from b[start:], which follows the
// opening quote (encoding/json's unquote, with its scanner's validity rules).
func (d *decoder) strSlow(start int) (string, bool) {
	b := d.s
	out := make([]byte, 0, 64)
	for r := start; r < len(b); {
		c := b[r]
		switch {
		case c == '"':
			d.i = r + 1
			return string(out), true
		case c < ' ':
			return "", false
		case c == '\\':
			if r+1 >= len(b) {
				return "", false
			}
			switch b[r+1] {
			case '"', '\\', '/':
				out = append(out, b[r+1])
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				rr := getu4(b[r:])
				if rr < 0 {
					return "", false
				}
				r += 6
				if utf16IsSurrogate(rr) {
					if rr1 := getu4(b[r:]); rr1 >= 0 {
						if dec := utf16Decode(rr, rr1); dec != utf8.RuneError {
							r += 6
							out = utf8.AppendRune(out, dec)
							continue
						}
					}
					rr = utf8.RuneError
				}
				out = utf8.AppendRune(out, rr)
				continue
			default:
				return "", false
			}
			r += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			r++
		default:
			rr, size := utf8.DecodeRuneInString(b[r:])
			r += size
			out = utf8.AppendRune(out, rr)
		}
	}
	return "", false
}

func getu4(s string) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

func utf16IsSurrogate(r rune) bool { return 0xd800 <= r && r < 0xe000 }

func utf16Decode(r1, r2 rune) rune {
	if 0xd800 <= r1 && r1 < 0xdc00 && 0xdc00 <= r2 && r2 < 0xe000 {
		return (r1-0xd800)<<10 | (r2 - 0xdc00) + 0x10000
	}
	return utf8.RuneError
}

// number reads a number literal (JSON grammar) and returns its bytes.
func (d *decoder) number() (string, bool) {
	b, i := d.s, d.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return "", false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i++
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return "", false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return "", false
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return "", false
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	d.i = i
	return b[start:i], true
}

func (d *decoder) float() (float64, bool) {
	n, ok := d.number()
	if !ok {
		return 0, false
	}
	if len(n) <= 15 && isDigits(n) { // exact in a float64: no need for ParseFloat
		var v int64
		for _, c := range []byte(n) {
			v = v*10 + int64(c-'0')
		}
		return float64(v), true
	}
	f, err := strconv.ParseFloat(n, 64)
	return f, err == nil
}

// isDigits reports whether n is only digits (a number without sign, fraction or exponent).
func isDigits(n string) bool {
	for _, c := range []byte(n) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// integer reads a number into an int the way encoding/json does (no fraction, no exponent);
// very long ones go to encoding/json for its overflow rules.
func (d *decoder) integer() (int64, bool) {
	n, ok := d.number()
	if !ok {
		return 0, false
	}
	neg := n[0] == '-'
	if neg {
		n = n[1:]
	}
	if len(n) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range []byte(n) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// skip validates one value and returns its bytes (for json.RawMessage).
func (d *decoder) skip() (string, bool) {
	start := d.i
	if d.i >= len(d.s) {
		return "", false
	}
	switch c := d.s[d.i]; {
	case c == '{':
		if !d.open() {
			return "", false
		}
		for first := true; ; first = false {
			if _, more := d.nextKey(first, validKeys); !more {
				if d.bad {
					return "", false
				}
				break
			}
			if _, ok := d.skip(); !ok {
				return "", false
			}
		}
	case c == '[':
		if !d.array(func() bool { _, ok := d.skip(); return ok }) {
			return "", false
		}
	case c == '"':
		if !d.skipString() {
			return "", false
		}
	case c == 't' || c == 'f':
		if _, ok := d.boolean(); !ok {
			return "", false
		}
	case c == 'n':
		if !d.null() {
			return "", false
		}
	default:
		if _, ok := d.number(); !ok {
			return "", false
		}
	}
	return d.s[start:d.i], true
}

// skipString validates a string without decoding it.
func (d *decoder) skipString() bool {
	b := d.s
	for i := d.i + 1; ; {
		i = scanDecode(b, i)
		if i >= len(b) {
			return false
		}
		switch c := b[i]; {
		case c == '"':
			d.i = i + 1
			return true
		case c < ' ':
			return false
		case c == '\\':
			if i+1 >= len(b) {
				return false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if getu4(b[i:]) < 0 {
					return false
				}
				i += 6
			default:
				return false
			}
		default: // non-ASCII: the scanner (encoding/json's too) takes any byte
			i++
		}
	}
}

// anyValue reads a value into an interface as encoding/json does: map[string]any, []any,
// string, float64, bool or nil.
func (d *decoder) anyValue() (any, bool) {
	if d.i >= len(d.s) {
		return nil, false
	}
	switch c := d.s[d.i]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.list()
	case c == '"':
		return d.str()
	case c == 't' || c == 'f':
		return d.boolean()
	case c == 'n':
		return nil, d.null()
	}
	return d.float()
}

// object reads an object into a map[string]any as encoding/json does (the last of
// duplicate keys wins).
func (d *decoder) object() (map[string]any, bool) {
	if !d.open() {
		return nil, false
	}
	m := make(map[string]any, 1)
	for first := true; ; first = false {
		k, more := d.nextKey(first, decodedKeys)
		if !more {
			return m, !d.bad
		}
		v, ok := d.anyValue()
		if !ok {
			return nil, false
		}
		m[k] = v
	}
}

// list reads an array into a []any (empty, not nil, for []).
func (d *decoder) list() ([]any, bool) {
	a := make([]any, 0, 4)
	ok := d.array(func() bool {
		v, ok := d.anyValue()
		a = append(a, v)
		return ok
	})
	return a, ok
}

// stringField decodes a string struct field (null leaves it as it is, as encoding/json does).
func (d *decoder) stringField(dst *string) bool {
	if d.null() {
		return true
	}
	s, ok := d.str()
	*dst = s
	return ok
}

func (d *decoder) floatField(dst *float64) bool {
	if d.null() {
		return true
	}
	f, ok := d.float()
	*dst = f
	return ok
}

func (d *decoder) intField(dst *int) bool {
	if d.null() {
		return true
	}
	n, ok := d.integer()
	*dst = int(n)
	return ok
}

func (d *decoder) boolField(dst *bool) bool {
	if d.null() {
		return true
	}
	v, ok := d.boolean()
	*dst = v
	return ok
}

// rawField decodes a json.RawMessage field: a copy of the value's bytes (null included, as
// RawMessage.UnmarshalJSON keeps it).
func (d *decoder) rawField(dst *json.RawMessage) bool {
	raw, ok := d.skip()
	if ok {
		*dst = json.RawMessage(raw)
	}
	return ok
}

// once marks field bit in seen and reports false for a key seen before: duplicate keys go to
// encoding/json, whose merge rules the fast path does not reproduce.
func once(seen *uint32, bit uint32) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// open consumes the '{' of an object read with nextKey.
func (d *decoder) open() bool {
	if !d.peek('{') {
		return false
	}
	d.i++
	d.depth++
	return d.depth <= maxDepth
}

// nextKey steps through an object opened with open, without a callback per member: it
// returns the next key (see keyMode), ready for its value, or false at the closing '}' (d.bad
// set when the object is malformed).
func (d *decoder) nextKey(first bool, mode keyMode) (string, bool) {
	d.ws()
	if d.peek('}') {
		d.i++
		d.depth--
		return "", false
	}
	if !first {
		if !d.peek(',') {
			d.bad = true
			return "", false
		}
		d.i++
		d.ws()
	}
	var k string
	switch mode {
	case decodedKeys:
		key, ok := d.str()
		if !ok {
			d.bad = true
			return "", false
		}
		k = key
	case validKeys:
		if !d.peek('"') || !d.skipString() {
			d.bad = true
			return "", false
		}
	default:
		end := scanDecode(d.s, d.i+1)
		if !d.peek('"') || end >= len(d.s) || d.s[end] != '"' {
			d.bad = true
			return "", false
		}
		k = d.s[d.i+1 : end]
		d.i = end + 1
	}
	d.ws()
	if !d.peek(':') {
		d.bad = true
		return "", false
	}
	d.i++
	d.ws()
	return k, true
}

func (d *decoder) strategyInput(v *sdk.StrategyInput) bool {
	if !d.open() {
		return false
	}
	var seen uint32
	for first := true; ; first = false {
		k, more := d.nextKey(first, rawKeys)
		if !more {
			return !d.bad
		}
		ok := false
		switch k {
		case "class":
			ok = once(&seen, 1) && d.stringField(&v.Class)
		case "message":
			ok = once(&seen, 2) && d.stringField(&v.Message)
		case "exit_code":
			ok = once(&seen, 4) && d.intField(&v.ExitCode)
		case "attempt":
			ok = once(&seen, 8) && d.intField(&v.Attempt)
		case "elapsed_seconds":
			ok = once(&seen, 16) && d.floatField(&v.Elapsed)
		case "function_name":
			ok = once(&seen, 32) && d.stringField(&v.Function)
		}
		if !ok {
			return false
		}
	}
}

func (d *decoder) initRequest(v *sdk.InitRequest) bool {
	if !d.open() {
		return false
	}
	var seen uint32
	for first := true; ; first = false {
		k, more := d.nextKey(first, rawKeys)
		if !more {
			return !d.bad
		}
		ok := false
		switch k {
		case "host_version":
			ok = once(&seen, 1) && d.stringField(&v.HostVersion)
		case "config":
			ok = once(&seen, 2) && d.rawField(&v.Config)
		}
		if !ok {
			return false
		}
	}
}

func (d *decoder) resolveRequest(v *sdk.ResolveRequest) bool {
	if !d.open() {
		return false
	}
	var seen uint32
	for first := true; ; first = false {
		k, more := d.nextKey(first, rawKeys)
		if !more {
			return !d.bad
		}
		ok := false
		switch k {
		case "reference":
			ok = once(&seen, 1) && d.stringField(&v.Reference)
		case "query":
			ok = once(&seen, 2) && (d.null() || d.modelQuery(&v.Query))
		}
		if !ok {
			return false
		}
	}
}

func (d *decoder) modelQuery(v *sdk.ModelQuery) bool {
	if !d.open() {
		return false
	}
	var seen uint32
	for first := true; ; first = false {
		k, more := d.nextKey(first, rawKeys)
		if !more {
			return !d.bad
		}
		ok := false
		switch k {
		case "name":
			ok = once(&seen, 1) && d.stringField(&v.Name)
		case "folder":
			ok = once(&seen, 2) && d.stringField(&v.Folder)
		case "url":
			ok = once(&seen, 4) && d.stringField(&v.URL)
		case "sha256":
			ok = once(&seen, 8) && d.stringField(&v.SHA256)
		case "node_type":
			ok = once(&seen, 16) && d.stringField(&v.NodeType)
		}
		if !ok {
			return false
		}
	}
}

func (d *decoder) parseRequest(v *sdk.ParseRequest) bool {
	if !d.open() {
		return false
	}
	var seen uint32
	for first := true; ; first = false {
		k, more := d.nextKey(first, rawKeys)
		if !more {
			return !d.bad
		}
		ok := false
		switch k {
		case "format":
			ok = once(&seen, 1) && d.stringField(&v.Format)
		case "nodes":
			ok = once(&seen, 2) && d.nodes(&v.Nodes)
		case "workflow":
			ok = once(&seen, 4) && d.rawField(&v.Raw)
		case "options":
			ok = once(&seen, 8) && d.options(&v.Options)
		}
		if !ok {
			return false
		}
	}
}

func (d *decoder) nodes(dst *[]sdk.WorkflowNode) bool {
	if d.null() {
		return true
	}
	nodes := make([]sdk.WorkflowNode, 0, 8)
	ok := d.array(func() bool {
		nodes = append(nodes, sdk.WorkflowNode{})
		return d.workflowNode(&nodes[len(nodes)-1])
	})
	*dst = nodes
	return ok
}

func (d *decoder) options(dst *map[string]string) bool {
	if d.null() {
		return true
	}
	if !d.open() {
		return false
	}
	m := make(map[string]string, 1)
	*dst = m
	for first := true; ; first = false {
		k, more := d.nextKey(first, decodedKeys)
		if !more {
			return !d.bad
		}
		s, ok := d.str() // a null value goes to encoding/json
		if !ok {
			return false
		}
		m[k] = s
	}
}

func (d *decoder) workflowNode(v *sdk.WorkflowNode) bool {
	if d.null() { // a null element leaves the zero node, as encoding/json does
		return true
	}
	if !d.open() {
		return false
	}
	var seen uint32
	for first := true; ; first = false {
		k, more := d.nextKey(first, rawKeys)
		if !more {
			return !d.bad
		}
		ok := false
		switch k {
		case "id":
			ok = once(&seen, 1) && d.stringField(&v.ID)
		case "type":
			ok = once(&seen, 2) && d.stringField(&v.Type)
		case "inputs":
			if ok = once(&seen, 4); ok && !d.null() {
				v.Inputs, ok = d.object()
			}
		case "widgets":
			if ok = once(&seen, 8); ok && !d.null() {
				v.Widgets, ok = d.list()
			}
		case "inactive":
			ok = once(&seen, 16) && d.boolField(&v.Inactive)
		}
		if !ok {
			return false
		}
	}
}
