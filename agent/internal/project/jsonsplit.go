package project

import (
	"bytes"
	"encoding/json"
	"strings"
)

// cutMember splits the JSON object raw into the value of its top-level member key (the last
// one, as encoding/json reads duplicates) and the object without that member, finding the
// boundaries with a scan that steps over strings in bulk instead of validating every byte.
// ok is false, and the caller decodes raw as a whole, when raw is not an object, has no such
// member, or has a key encoding/json might also match to it (an escape, another case). The
// value is neither validated nor copied: the caller does both.
func cutMember(raw []byte, key string) (value, rest []byte, ok bool) {
	b := bytes.TrimSpace(raw)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, nil, false
	}
	out := make([]byte, 0, 256)
	out = append(out, '{')
	found := false
	i := skipWS(b, 1)
	for i < len(b)-1 {
		if b[i] != '"' {
			return nil, nil, false
		}
		kEnd, plain := stringEnd(b, i)
		if kEnd < 0 {
			return nil, nil, false
		}
		k := b[i+1 : kEnd-1]
		if !plain || !ascii(k) || (string(k) != key && bytes.EqualFold(k, []byte(key))) {
			return nil, nil, false
		}
		j := skipWS(b, kEnd)
		if j >= len(b) || b[j] != ':' {
			return nil, nil, false
		}
		vStart := skipWS(b, j+1)
		vEnd := valueEnd(b, vStart)
		if vEnd < 0 {
			return nil, nil, false
		}
		if string(k) == key {
			value, found = b[vStart:vEnd], true
		} else {
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = append(out, b[i:vEnd]...)
		}
		i = skipWS(b, vEnd)
		switch {
		case i < len(b)-1 && b[i] == ',':
			if i = skipWS(b, i+1); i >= len(b)-1 {
				return nil, nil, false // a trailing comma
			}
		case i != len(b)-1:
			return nil, nil, false
		}
	}
	if !found {
		return nil, nil, false
	}
	return value, append(out, '}'), true
}

// ascii: encoding/json matches field names case-insensitively with Unicode folding (K and
// the Kelvin sign); keys of plain ASCII are the ones compared exactly here.
func ascii(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the closing quote of the string starting at b[i] and
// whether it has no escapes; -1 when it is not terminated.
func stringEnd(b []byte, i int) (int, bool) {
	plain := true
	for j := i + 1; j < len(b); {
		k := bytes.IndexAny(b[j:], `"\`)
		if k < 0 {
			return -1, false
		}
		j += k
		if b[j] == '\\' {
			plain = false
			j += 2
			continue
		}
		return j + 1, plain
	}
	return -1, false
}

// valueEnd returns the index after the JSON value starting at b[i]: a string, an object or
// array with its brackets balanced by kind (strings skipped), or a scalar up to the next
// delimiter; -1 when it does not end well. Scalars are checked by the caller's decoder.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := stringEnd(b, i)
		return end
	case '{', '[':
		stack := []byte{b[i] + 2} // '{'+2 is '}', '['+2 is ']'
		for j := i + 1; j < len(b); j++ {
			switch c := b[j]; c {
			case '"':
				end, _ := stringEnd(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				stack = append(stack, c+2)
			case '}', ']':
				if stack[len(stack)-1] != c {
					return -1
				}
				if stack = stack[:len(stack)-1]; len(stack) == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && strings.IndexByte(",}] \n\t\r", b[j]) < 0 {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// decodeWithout decodes raw into v (whose field for key must be a json.RawMessage that dst
// points to) with the member key cut out first, so a large value costs one validation pass
// and one copy instead of encoding/json's validation, skip and copy; anything cutMember does
// not take is decoded as a whole.
func decodeWithout(raw []byte, key string, v any, dst *json.RawMessage) error {
	value, rest, ok := cutMember(raw, key)
	if !ok {
		return json.Unmarshal(raw, v)
	}
	if err := json.Unmarshal(rest, v); err != nil {
		return err
	}
	if !validJSON(value) {
		return json.Unmarshal(raw, v) // for encoding/json's error, with its offset
	}
	*dst = append(json.RawMessage(nil), value...)
	return nil
}
