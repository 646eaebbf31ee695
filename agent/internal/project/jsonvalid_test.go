package project

import (
	"encoding/json"
	"strings"
	"testing"
)

var validCases = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `-0.5e+10`, `1E5`, `true`, `false`, `null`, ` {"a" : [1, 2.5, "x", {"b": null}] } `,
	`{"a":"\u00e9\n\"\\\/\b\f\r\t"}`, "\"\xff\xfe broken utf-8\"", `[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]`,
	strings.Repeat("[", 200) + strings.Repeat("]", 200),
	// invalid ones
	``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a"}`, `{"a":}`, `{1:2}`, `[1 2]`, `01`, `1.`, `.5`, `1e`, `-`, `+1`,
	`tru`, `nul`, `"abc`, "\"a\x01b\"", `"\x"`, `"\u12"`, `"\u12g4"`, `[1]]`, `{"a":1}}`, `{"a":1]`, `[1}`, `1 2`,
	`{"a":1} x`, `[` + strings.Repeat("1,", 10) + `]`, strings.Repeat("[", 100) + strings.Repeat("]", 99),
}

// TestValidJSONLikeEncodingJSON: validJSON answers as json.Valid does.
func TestValidJSONLikeEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, c := range validCases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%q) = %v, json.Valid says %v", c, got, want)
		}
	}
}

// FuzzValidJSON: validJSON agrees with json.Valid on any input.
func FuzzValidJSON(f *testing.F) {
	for _, c := range append(validCases, launcherCases...) {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}
