package workflow

import (
	"strings"
	"unsafe"
)

// DecodeField decodes the workflow that a JSON object carries in its field name, such as a
// request body {"workflow_json": ...}, in one parse: the workflow is the parsed value of the
// field (no second parse, no re-encoding). ok is false, and nothing is decoded, when the body
// needs encoding/json's reading instead, whose errors are the precise ones: malformed JSON,
// the field absent, null or also spelled in another case (encoding/json would take the last
// one), too deep, too large.
//
// DecodeField keeps body: the Document's strings and Raw share its memory (a 370 KB workflow
// is not copied once more), so the caller must not modify body afterwards.
func DecodeField(body []byte, name string, lim Limits) (doc *Document, ok bool, err error) {
	lim = lim.withDefaults()
	spans := map[string][2]int{}
	v, parsed := parseJSONString(unsafe.String(unsafe.SliceData(body), len(body)), lim.MaxDepth+1, spans)
	obj, isObj := v.(map[string]any)
	span, has := spans[name]
	if !parsed || !isObj || !has || hasFoldedTwin(spans, name) {
		return nil, false, nil
	}
	raw := body[span[0]:span[1]]
	if string(raw) == "null" || len(raw) > lim.MaxBytes {
		return nil, false, nil
	}
	doc, err = decodeValue(obj[name], raw, 0)
	return doc, true, err
}

// hasFoldedTwin reports whether another key matches name case-insensitively, as encoding/json
// matches struct fields.
func hasFoldedTwin(spans map[string][2]int, name string) bool {
	for k := range spans {
		if k != name && strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}
