package workflow

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// parseJSONFast parses b into the values encoding/json gives an `any` (map[string]any, []any,
// float64, string, bool, nil) in one pass, refusing nesting deeper than maxDepth. It reports
// ok=false for anything it is not sure to read exactly as encoding/json does (a syntax error,
// a number out of range, invalid UTF-8, a lone surrogate, too deep): the caller then takes the
// encoding/json path, which gives the precise error. spans, when non-nil, receives the byte
// range of the top-level object's values by key (the last one wins, as in the map).
func parseJSONFast(b []byte, maxDepth int, spans map[string][2]int) (v any, ok bool) {
	return parseJSONString(string(b), maxDepth, spans)
}

// parseJSONString is parseJSONFast over a string. Keys and strings without escapes are
// substrings of s (no copy each), so the values keep s alive as long as any of them lives.
func parseJSONString(s string, maxDepth int, spans map[string][2]int) (v any, ok bool) {
	p := jsonParser{b: s, maxDepth: maxDepth, spans: spans}
	p.skipSpace()
	v, ok = p.value(0)
	if !ok {
		return nil, false
	}
	p.skipSpace()
	return v, p.i == len(p.b)
}

type jsonParser struct {
	b        string
	i        int
	maxDepth int
	spans    map[string][2]int
	// vals is a stack of the elements of the arrays being read: each array is allocated once,
	// at its final size, when it ends.
	vals []any
	// slab is where arrays are carved from: a workflow holds thousands of small arrays
	// (positions, sizes, links, widget values), and one allocation serves many of them.
	slab []any
	// strs holds short string values already in interfaces, by a hash of the string: a
	// workflow repeats a few hundred ("IMAGE", "LATENT", "comfy-core", widget names) thousands
	// of times, and boxing each one would allocate. A slot holds the last string that hashed
	// to it; a collision only costs an allocation.
	strs [512]boxedString
}

type boxedString struct {
	s string
	v any
}

// maxBoxedLen bounds the strings p.strs keeps: longer ones (prompts, notes) rarely repeat.
const maxBoxedLen = 32

// emptyArray is [] in an interface, shared: it has no element to change, and an append to it
// allocates a new array.
var emptyArray any = []any{}

// emptyString is "" in an interface.
var emptyString any = ""

// boxed returns s in an interface, the same one for most occurrences of s.
func (p *jsonParser) boxed(s string) any {
	if s == "" {
		return emptyString
	}
	h := (uint(len(s))*31 + uint(s[0])*7 + uint(s[len(s)/2])*3 + uint(s[len(s)-1])) % uint(len(p.strs))
	e := &p.strs[h]
	if e.v == nil || e.s != s {
		e.s, e.v = s, s
	}
	return e.v
}

func (p *jsonParser) skipSpace() {
	i, b := p.i, p.b
	for i < len(b) {
		c := b[i]
		if c > ' ' || (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
			break
		}
		i++
		// Indented JSON is half spaces: step over runs of them eight at a time (the
		// comparison with a constant compiles to one 8-byte load).
		for i+8 <= len(b) && b[i:i+8] == "        " {
			i += 8
		}
	}
	p.i = i
}

func (p *jsonParser) value(depth int) (any, bool) {
	if p.i >= len(p.b) {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		s, ok := p.str()
		if !ok || len(s) > maxBoxedLen {
			return s, ok
		}
		return p.boxed(s), true
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	default:
		return p.number()
	}
}

func (p *jsonParser) literal(lit string) bool {
	if len(p.b)-p.i < len(lit) || p.b[p.i:p.i+len(lit)] != lit {
		return false
	}
	p.i += len(lit)
	return true
}

func (p *jsonParser) object(depth int) (any, bool) {
	if depth > p.maxDepth {
		return nil, false
	}
	p.i++ // {
	p.skipSpace()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return map[string]any{}, true
	}
	// Most workflow objects have at most 8 members, which one map group holds: sized so,
	// the map never grows for them.
	m := make(map[string]any, 8)
	for {
		p.skipSpace()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, false
		}
		k, ok := p.str()
		if !ok {
			return nil, false
		}
		p.skipSpace()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, false
		}
		p.i++
		p.skipSpace()
		start := p.i
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		if depth == 1 && p.spans != nil {
			p.spans[k] = [2]int{start, p.i}
		}
		m[k] = v // of a repeated key the last one wins, as in encoding/json
		end, ok := p.sep('}')
		if !ok {
			return nil, false
		}
		if end {
			return m, true
		}
	}
}

// sep reads what follows a member or an element: ',' (more follow) or close (the end).
func (p *jsonParser) sep(close byte) (end, ok bool) {
	p.skipSpace()
	if p.i >= len(p.b) {
		return false, false
	}
	switch p.b[p.i] {
	case ',':
		p.i++
		return false, true
	case close:
		p.i++
		return true, true
	}
	return false, false
}

func (p *jsonParser) array(depth int) (any, bool) {
	if depth > p.maxDepth {
		return nil, false
	}
	p.i++ // [
	p.skipSpace()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return emptyArray, true
	}
	base := len(p.vals)
	for {
		p.skipSpace()
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		p.vals = append(p.vals, v)
		end, ok := p.sep(']')
		if !ok {
			return nil, false
		}
		if end {
			break
		}
	}
	a := p.newArray(len(p.vals) - base)
	copy(a, p.vals[base:])
	p.vals = p.vals[:base] // what lies above is overwritten by later arrays, never read
	return a, true
}

// newArray returns a slice of n elements whose capacity is n, so an append to it never writes
// into the slab next to it.
func (p *jsonParser) newArray(n int) []any {
	const slabLen = 1024
	if n > slabLen/8 {
		return make([]any, n)
	}
	if len(p.slab) < n {
		p.slab = make([]any, slabLen)
	}
	a := p.slab[:n:n]
	p.slab = p.slab[n:]
	return a
}

// scanString finds the closing quote of the string at p.i; plain reports that the string has
// no escapes and only printable ASCII or valid UTF-8, so its bytes are its value.
func (p *jsonParser) scanString() (end int, plain bool) {
	plain = true
	ascii := true
	b := p.b
	for j := p.i + 1; j < len(b); j++ {
		for j < len(b) && !stringSpecial[b[j]] {
			j++ // the common case: one table look-up per byte
		}
		if j >= len(b) {
			break
		}
		switch c := b[j]; {
		case c == '"':
			if !ascii && !utf8.ValidString(b[p.i+1:j]) {
				return j, false
			}
			return j, plain
		case c == '\\':
			plain = false
			j++ // the escaped byte is never the closing quote
		case c < 0x20:
			return -1, false // control characters must be escaped
		default: // c >= utf8.RuneSelf
			ascii = false
		}
	}
	return -1, false
}

// stringSpecial marks the bytes scanString must look at: the closing quote, escapes, control
// characters and the bytes of non-ASCII characters.
var stringSpecial = func() (t [256]bool) {
	for c := range t {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf
	}
	return t
}()

// str reads a string value.
func (p *jsonParser) str() (string, bool) {
	start := p.i + 1
	end, plain := p.scanString()
	if end < 0 {
		return "", false
	}
	if plain {
		p.i = end + 1
		return p.b[start:end], true
	}
	s, ok := unescape(p.b[start:end])
	p.i = end + 1
	return s, ok
}

// unescape decodes a string body with escapes; ok is false for what encoding/json would
// replace or reject (invalid UTF-8, lone surrogates, bad escapes).
func unescape(b string) (string, bool) {
	if !utf8.ValidString(b) {
		return "", false
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(b) {
			return "", false
		}
		switch b[i] {
		case '"', '\\', '/':
			out = append(out, b[i])
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
			r, ok := hex4(b, i+1)
			if !ok {
				return "", false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if i+2 >= len(b) || b[i+1] != '\\' || b[i+2] != 'u' {
					return "", false
				}
				r2, ok := hex4(b, i+3)
				if !ok {
					return "", false
				}
				dec := utf16.DecodeRune(r, r2)
				if dec == utf8.RuneError {
					return "", false
				}
				r = dec
				i += 6
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return string(out), true
}

func hex4(b string, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(b[i : i+4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a JSON number as float64, checking the grammar encoding/json checks.
func (p *jsonParser) number() (any, bool) {
	start := p.i
	j := p.i
	if j < len(p.b) && p.b[j] == '-' {
		j++
	}
	switch {
	case j < len(p.b) && p.b[j] == '0':
		j++
	case j < len(p.b) && '1' <= p.b[j] && p.b[j] <= '9':
		for j < len(p.b) && '0' <= p.b[j] && p.b[j] <= '9' {
			j++
		}
	default:
		return nil, false
	}
	if j < len(p.b) && p.b[j] == '.' {
		j++
		if j >= len(p.b) || p.b[j] < '0' || p.b[j] > '9' {
			return nil, false
		}
		for j < len(p.b) && '0' <= p.b[j] && p.b[j] <= '9' {
			j++
		}
	}
	if j < len(p.b) && (p.b[j] == 'e' || p.b[j] == 'E') {
		j++
		if j < len(p.b) && (p.b[j] == '+' || p.b[j] == '-') {
			j++
		}
		if j >= len(p.b) || p.b[j] < '0' || p.b[j] > '9' {
			return nil, false
		}
		for j < len(p.b) && '0' <= p.b[j] && p.b[j] <= '9' {
			j++
		}
	}
	p.i = j
	if n, ok := smallInt(p.b[start:j]); ok {
		return boxedInts[n], true
	}
	f, err := strconv.ParseFloat(p.b[start:j], 64)
	if err != nil {
		return nil, false // out of range: encoding/json reports it
	}
	return f, true
}

// boxedInts holds the float64 values 0..len-1 already in interfaces: node ids, link ids,
// positions and sizes are mostly small integers, and boxing each one would allocate.
var boxedInts = func() []any {
	out := make([]any, 4096)
	for i := range out {
		out[i] = float64(i)
	}
	return out
}()

// smallInt parses a plain non-negative integer literal below len(boxedInts).
func smallInt(b string) (int, bool) {
	if len(b) == 0 || len(b) > 4 || (len(b) > 1 && b[0] == '0') {
		return 0, false
	}
	n := 0
	for _, c := range []byte(b) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n < len(boxedInts)
}
