package extension

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DecodeConfig strictly decodes an extension's config (InitRequest.Config) into v: an unknown
// key is an error naming it, so a typo in launcher.toml is reported, not ignored. Empty
// config leaves v as it is.
func DecodeConfig(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &Error{Code: "bad_config", Message: fmt.Sprintf("config: %v", err)}
	}
	return nil
}
