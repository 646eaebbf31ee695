// Package gpupref parses and prints a project's gpu setting ("auto", "none", or a list of GPU
// UUIDs and indexes). It is a leaf so that configuration parsing can validate the setting without
// importing the GPU manager (and, through it, HTTP).
package gpupref

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Mode says how a project chooses its GPU.
type Mode int

// Preference modes. Auto is the zero value so an absent setting means auto.
const (
	Auto Mode = iota
	None
	List
)

// DeviceRef names one GPU in a preference list: by UUID, or by index when UUID is empty.
// Indexes are resolved to UUIDs at placement time, because index order can change between
// boots while UUIDs do not.
type DeviceRef struct {
	UUID  string
	Index int
}

func (d DeviceRef) String() string {
	if d.UUID != "" {
		return d.UUID
	}
	return strconv.Itoa(d.Index)
}

// Preference is a project's gpu setting: "auto", "none", or a list of GPU UUIDs and/or
// indexes that are the candidates, tried in order. A bare UUID string or a bare index is
// accepted as a list of one. The zero value is auto.
type Preference struct {
	Mode    Mode
	Devices []DeviceRef
}

// AutoPreference, NonePreference: the two fixed preferences.
var (
	AutoPreference = Preference{Mode: Auto}
	NonePreference = Preference{Mode: None}
)

const preferenceHint = `gpu must be "auto", "none", a list of GPU UUIDs like ["GPU-8f2c..."] or a list of indexes like [0, 1]`

// ParsePreference converts a decoded TOML or JSON value (string, integer, or a list of them)
// into a Preference. Config packages that decode into `any` call it; the error says what is
// accepted.
func ParsePreference(v any) (Preference, error) {
	switch x := v.(type) {
	case nil:
		return AutoPreference, nil
	case string:
		return parsePreferenceString(x)
	case []any:
		if len(x) == 0 {
			return Preference{}, fmt.Errorf(`empty GPU list: %s (use "none" to run on the CPU)`, preferenceHint)
		}
		p := Preference{Mode: List}
		seen := map[string]bool{}
		for i, e := range x {
			d, err := parseDevice(e)
			if err != nil {
				return Preference{}, fmt.Errorf("gpu[%d]: %w", i, err)
			}
			key := strings.ToLower(d.String())
			if seen[key] {
				continue
			}
			seen[key] = true
			p.Devices = append(p.Devices, d)
		}
		return p, nil
	case []string:
		l := make([]any, len(x))
		for i, s := range x {
			l[i] = s
		}
		return ParsePreference(l)
	case []int:
		l := make([]any, len(x))
		for i, n := range x {
			l[i] = n
		}
		return ParsePreference(l)
	default:
		if d, err := parseDevice(v); err == nil {
			return Preference{Mode: List, Devices: []DeviceRef{d}}, nil
		}
		return Preference{}, fmt.Errorf("%s; got %T %v", preferenceHint, v, v)
	}
}

func parsePreferenceString(s string) (Preference, error) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "auto":
		return AutoPreference, nil
	case "none", "cpu":
		return NonePreference, nil
	}
	d, err := parseDevice(t)
	if err != nil {
		return Preference{}, fmt.Errorf("%s; got %q", preferenceHint, s)
	}
	return Preference{Mode: List, Devices: []DeviceRef{d}}, nil
}

func parseDevice(v any) (DeviceRef, error) {
	switch x := v.(type) {
	case string:
		t := strings.TrimSpace(x)
		if n, err := strconv.Atoi(t); err == nil {
			return indexRef(int64(n))
		}
		if IsUUID(t) {
			return DeviceRef{UUID: t}, nil
		}
		return DeviceRef{}, fmt.Errorf("%q is neither a GPU UUID (GPU-…, see `nvidia-smi -L`) nor an index", x)
	case int:
		return indexRef(int64(x))
	case int64:
		return indexRef(x)
	case float64:
		if x != float64(int64(x)) {
			return DeviceRef{}, fmt.Errorf("GPU index %v is not a whole number", x)
		}
		return indexRef(int64(x))
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			return DeviceRef{}, fmt.Errorf("GPU index %s is not a whole number", x)
		}
		return indexRef(n)
	default:
		return DeviceRef{}, fmt.Errorf("%v (%T) is neither a GPU UUID string nor an index", v, v)
	}
}

func indexRef(n int64) (DeviceRef, error) {
	if n < 0 || n > 1024 {
		return DeviceRef{}, fmt.Errorf("GPU index %d is out of range", n)
	}
	return DeviceRef{Index: int(n)}, nil
}

// IsUUID reports whether s looks like a GPU or MIG UUID as nvidia-smi prints them.
func IsUUID(s string) bool {
	u := strings.ToUpper(s)
	return (strings.HasPrefix(u, "GPU-") || strings.HasPrefix(u, "MIG-")) && len(s) > 4
}

// String renders the preference as it would be written in launcher.toml.
func (p Preference) String() string {
	switch p.Mode {
	case None:
		return `"none"`
	case List:
		parts := make([]string, len(p.Devices))
		for i, d := range p.Devices {
			if d.UUID != "" {
				parts[i] = strconv.Quote(d.UUID)
			} else {
				parts[i] = strconv.Itoa(d.Index)
			}
		}
		return "[" + strings.Join(parts, ", ") + "]"
	default:
		return `"auto"`
	}
}

// MarshalJSON writes "auto", "none" or the list.
func (p Preference) MarshalJSON() ([]byte, error) {
	return []byte(p.String()), nil
}

// UnmarshalJSON accepts what ParsePreference accepts.
func (p *Preference) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("gpu: %w", err)
	}
	q, err := ParsePreference(v)
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// UnmarshalTOML accepts what ParsePreference accepts. go-toml calls it with the raw value
// when the decoder has EnableUnmarshalerInterface; without it only strings reach
// UnmarshalText.
func (p *Preference) UnmarshalTOML(data []byte) error {
	var doc struct {
		V any `toml:"v"`
	}
	if err := toml.Unmarshal(append([]byte("v = "), data...), &doc); err != nil {
		return fmt.Errorf("gpu: %s", preferenceHint)
	}
	q, err := ParsePreference(doc.V)
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// UnmarshalText accepts the string forms: "auto", "none", a UUID or an index.
func (p *Preference) UnmarshalText(text []byte) error {
	q, err := parsePreferenceString(string(text))
	if err != nil {
		return err
	}
	*p = q
	return nil
}
