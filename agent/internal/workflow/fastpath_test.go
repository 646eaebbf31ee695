package workflow

import (
	"math"
	"reflect"
	"strconv"
	"testing"
)

// TestJSONFastArraysAreSeparate: arrays carved from one slab have no room past their end, so
// appending to one (as an analyser may) never writes into the array parsed after it.
func TestJSONFastArraysAreSeparate(t *testing.T) {
	t.Parallel()
	v, ok := parseJSONFast([]byte(`[[1,2],[3,4],[],["a","a"]]`), 10, nil)
	if !ok {
		t.Fatal("not parsed")
	}
	outer := v.([]any)
	first := outer[0].([]any)
	if cap(first) != len(first) {
		t.Fatalf("cap %d, len %d: an append would write into the slab", cap(first), len(first))
	}
	_ = append(first, 99.0)
	empty := append(outer[2].([]any), 98.0)
	want := []any{[]any{1.0, 2.0}, []any{3.0, 4.0}, []any{}, []any{"a", "a"}}
	if !reflect.DeepEqual(outer, want) {
		t.Fatalf("after appends: %#v, want %#v", outer, want)
	}
	if len(empty) != 1 || empty[0] != 98.0 {
		t.Fatalf("append to the empty array: %#v", empty)
	}
}

// TestJSONFastLongArraysAndObjects: arrays longer than a slab share, objects with more members
// than one map group holds, and repeated keys read as encoding/json reads them.
func TestJSONFastLongArraysAndObjects(t *testing.T) {
	t.Parallel()
	long := "["
	for i := range 3000 {
		if i > 0 {
			long += ","
		}
		long += `"s` + string(rune('a'+i%26)) + `"`
	}
	long += "]"
	checkFastMatchesStdlib(t, []byte(long))
	checkFastMatchesStdlib(t, []byte(`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"a":11,"k":[{"x":"y"},{"x":"y"}]}`))
	checkFastMatchesStdlib(t, []byte(`{"w":"\"workflow\" as a string: {\"nodes\": []}","n":""}`))
}

// TestNodeIDIntegers: integer ids read as strconv.FormatFloat writes them.
func TestNodeIDIntegers(t *testing.T) {
	t.Parallel()
	for _, f := range []float64{0, 1, 99, 100, 274, 4095, 123456789, 1<<53 - 1, 1 << 53, 1e21, -1, -0.0, 2.5, -7} {
		if got, want := nodeID(f), strconv.FormatFloat(f, 'f', -1, 64); got != want {
			t.Errorf("nodeID(%v) = %q, want %q", f, got, want)
		}
	}
	if got := nodeID(math.Copysign(0, -1)); got != "-0" {
		t.Errorf("nodeID(-0) = %q, want \"-0\"", got)
	}
}
