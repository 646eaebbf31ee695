package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2/unstable"
)

// checkTypes reports, in file order, every value of data whose TOML type does not fit the key
// it sets, each as "line N: key.path = value is <kind>; expected <TOML words>: <fix>". The
// decoder's own messages name Go types (config.PortsConfig.Min of type int) and, for a number
// where a duration belongs, neither key nor line. Unknown keys and syntax errors are left to
// the decoder, which names them well.
func checkTypes(data []byte) []string {
	c := typeChecker{root: reflect.TypeFor[Config]()}
	c.p.Reset(data)
	var table []string // the path of the current [table] or [[array table]]
	for c.p.NextExpression() {
		e := c.p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			keys, line := c.key(e)
			table = keys
			t, ok := resolve(c.root, keys)
			if !ok {
				continue
			}
			want := kindTable
			if e.Kind == unstable.ArrayTable {
				want = kindArrayTable
			}
			c.header(strings.Join(keys, "."), t, want, line)
		case unstable.KeyValue:
			keys, line := c.key(e)
			path := append(append([]string(nil), table...), keys...)
			if t, ok := resolve(c.root, path); ok {
				c.value(strings.Join(path, "."), strings.Join(keys, "."), t, e.Value(), line)
			}
		}
	}
	return c.errs
}

type typeChecker struct {
	p    unstable.Parser
	root reflect.Type
	errs []string
}

type headerKind int

const (
	kindTable headerKind = iota
	kindArrayTable
)

// key returns the parts of an expression's key and the line it is on.
func (c *typeChecker) key(n *unstable.Node) ([]string, int) {
	var parts []string
	line := 0
	it := n.Key()
	for it.Next() {
		k := it.Node()
		if line == 0 {
			line = c.p.Shape(k.Raw).Start.Line
		}
		parts = append(parts, string(k.Data))
	}
	return parts, line
}

// resolve finds the Go type a dotted key under t decodes into; false for an unknown key.
func resolve(t reflect.Type, keys []string) (reflect.Type, bool) {
	for _, k := range keys {
		for t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
			t = t.Elem() // inside [[projects]]: keys belong to the element
		}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := fieldByTag(t, k)
			if !ok {
				return nil, false
			}
			t = f
		case reflect.Map:
			t = t.Elem()
		default:
			return nil, false
		}
	}
	return t, true
}

func fieldByTag(t reflect.Type, name string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == name {
			return f.Type, true
		}
	}
	return nil, false
}

var (
	durationType = reflect.TypeFor[Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
	textType     = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// header checks a [table] or [[array table]] header against the type of its key.
func (c *typeChecker) header(path string, t reflect.Type, want headerKind, line int) {
	isTable := t.Kind() == reflect.Struct && t != durationType || t.Kind() == reflect.Map
	isArrayTable := t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct
	switch {
	case t.Kind() == reflect.Interface:
	case want == kindTable && !isTable && !isArrayTable:
		c.add(line, "[%s] is a table header, but %s is %s: write %s = %s under [%s]",
			path, path, expected(t), last(path), example(t), parent(path))
	case want == kindTable && isArrayTable:
		c.add(line, "[%s] is a table header, but %s is an array of tables: write [[%s]] (double brackets) once per entry", path, path, path)
	case want == kindArrayTable && !isArrayTable:
		if isTable {
			c.add(line, "[[%s]] is an array-of-tables header, but %s is a single table: write [%s] (single brackets)", path, path, path)
		} else {
			c.add(line, "[[%s]] is an array-of-tables header, but %s is %s: write %s = %s under [%s]",
				path, path, expected(t), last(path), example(t), parent(path))
		}
	}
}

// value checks one value (recursing into arrays and inline tables) against t, the type of the
// key dotted. written is the key as the file spells it, for the fix.
func (c *typeChecker) value(dotted, written string, t reflect.Type, n *unstable.Node, line int) {
	raw := c.raw(n)
	// write is the fix "write key = v"; an array element has no key of its own.
	write := func(v string) string {
		if written == "" {
			return "write the element as " + v
		}
		return "write " + written + " = " + v
	}
	bad := func(fix string) {
		c.add(line, "%s = %s is %s; expected %s: %s", dotted, raw, tomlKind(n), expected(t), fix)
	}
	switch {
	case t.Kind() == reflect.Interface:
	case t == durationType:
		switch n.Kind {
		case unstable.String:
			if _, err := time.ParseDuration(string(n.Data)); err != nil {
				c.add(line, "%s = %s is not a duration; expected %s: %s (a number and a unit: ms, s, m, h)",
					dotted, raw, expected(t), write(`"30s"`))
			}
		case unstable.Integer, unstable.Float:
			bad(write(`"`+raw+`s"`) + " if you meant seconds (a number and a unit: ms, s, m, h, in quotes)")
		default:
			bad(write(`"30s"`))
		}
	case t == byteSizeType:
		if n.Kind != unstable.String && n.Kind != unstable.Integer {
			bad(write(`"64MiB"`) + " or a number of bytes")
		}
	case reflect.PointerTo(t).Implements(textType):
		if n.Kind != unstable.String {
			bad(write(strconv.Quote(unquoted(n, raw))) + " (in quotes)")
		}
	case t.Kind() == reflect.String:
		if n.Kind != unstable.String {
			bad(write(strconv.Quote(unquoted(n, raw))) + " (in quotes)")
		}
	case t.Kind() == reflect.Bool:
		if n.Kind != unstable.Bool {
			fix := write("true") + " or false (no quotes)"
			if n.Kind == unstable.String {
				if b, err := strconv.ParseBool(string(n.Data)); err == nil {
					fix = write(strconv.FormatBool(b)) + " (no quotes)"
				}
			}
			bad(fix)
		}
	case isInt(t):
		if n.Kind != unstable.Integer {
			fix := write(example(t)) + " (a whole number, no quotes)"
			switch n.Kind {
			case unstable.String:
				if _, err := strconv.ParseInt(string(n.Data), 10, 64); err == nil {
					fix = write(string(n.Data)) + " (no quotes)"
				}
			case unstable.Float:
				if f, err := strconv.ParseFloat(strings.ReplaceAll(raw, "_", ""), 64); err == nil {
					fix = write(strconv.FormatInt(int64(f), 10)) + " (a whole number)"
				}
			}
			bad(fix)
		}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		if n.Kind != unstable.Integer && n.Kind != unstable.Float {
			fix := write(example(t)) + " (no quotes)"
			if n.Kind == unstable.String {
				if _, err := strconv.ParseFloat(string(n.Data), 64); err == nil {
					fix = write(string(n.Data)) + " (no quotes)"
				}
			}
			bad(fix)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != unstable.Array {
			if t.Elem().Kind() == reflect.Struct {
				bad(fmt.Sprintf("write one [[%s]] section per entry", dotted))
			} else {
				bad(write("["+raw+"]") + " (a list, even of one)")
			}
			return
		}
		it := n.Children()
		for i := 0; it.Next(); {
			el := it.Node()
			if el.Kind == unstable.Comment {
				continue
			}
			c.value(fmt.Sprintf("%s[%d]", dotted, i), "", t.Elem(), el, line)
			i++
		}
	case t.Kind() == reflect.Struct || t.Kind() == reflect.Map:
		if n.Kind != unstable.InlineTable {
			bad(fmt.Sprintf("put its keys under a [%s] section, or %s", dotted, write("{ key = value, ... }")))
			return
		}
		it := n.Children()
		for it.Next() {
			kv := it.Node()
			if kv.Kind != unstable.KeyValue {
				continue
			}
			keys, kline := c.key(kv)
			if kt, ok := resolve(t, keys); ok {
				c.value(dotted+"."+strings.Join(keys, "."), strings.Join(keys, "."), kt, kv.Value(), max(kline, line))
			}
		}
	}
}

func (c *typeChecker) add(line int, format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf("line %d: ", line)+fmt.Sprintf(format, args...))
}

// raw is the value as written in the file, or a short stand-in for an array or table.
func (c *typeChecker) raw(n *unstable.Node) string {
	switch n.Kind {
	case unstable.Array:
		return "[...]"
	case unstable.InlineTable:
		return "{...}"
	}
	if n.Raw.Length == 0 {
		return string(n.Data)
	}
	return string(c.p.Raw(n.Raw))
}

// unquoted is a scalar's text without quotes, for a fix that quotes it.
func unquoted(n *unstable.Node, raw string) string {
	if n.Kind == unstable.Array || n.Kind == unstable.InlineTable {
		return "..."
	}
	if n.Kind == unstable.String {
		return string(n.Data)
	}
	return raw
}

func isInt(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// tomlKind names a value's TOML type with its article.
func tomlKind(n *unstable.Node) string {
	switch n.Kind {
	case unstable.String:
		return "a string"
	case unstable.Integer:
		return "an integer"
	case unstable.Float:
		return "a float"
	case unstable.Bool:
		return "a boolean"
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "a table"
	case unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		return "a date/time"
	}
	return "a value"
}

// expected names, in TOML words, what a key of type t takes.
func expected(t reflect.Type) string {
	switch {
	case t == durationType:
		return `a duration string like "30s" or "5m"`
	case t == byteSizeType:
		return `a size like "64MiB" or a number of bytes`
	case reflect.PointerTo(t).Implements(textType), t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "a boolean (true or false)"
	case isInt(t):
		return "an integer"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return "an array of tables"
	case t.Kind() == reflect.Slice:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(expected(t.Elem()), "a "), "an ") + "s"
	case t.Kind() == reflect.Struct, t.Kind() == reflect.Map:
		return "a table"
	}
	return "a value"
}

// example is a value of type t as TOML, for a fix.
func example(t reflect.Type) string {
	switch {
	case t == durationType:
		return `"30s"`
	case t == byteSizeType:
		return `"64MiB"`
	case reflect.PointerTo(t).Implements(textType), t.Kind() == reflect.String:
		return `"..."`
	case t.Kind() == reflect.Bool:
		return "true"
	case isInt(t):
		return "10"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "2.5"
	case t.Kind() == reflect.Slice:
		return "[" + example(t.Elem()) + "]"
	}
	return "{ key = value }"
}

func last(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

func parent(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}
