package gpupref

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

func TestPreferenceDecode(t *testing.T) {
	uuid := "GPU-5f3b8c1e-9a2d-4e6f-b7c8-1d2e3f4a5b6c"
	tests := []struct {
		name    string
		json    string
		toml    string
		want    Preference
		wantErr string
	}{
		{name: "auto", json: `"auto"`, toml: `"auto"`, want: AutoPreference},
		{name: "none", json: `"none"`, toml: `'none'`, want: NonePreference},
		{name: "uuids", json: `["` + uuid + `", "MIG-1"]`, toml: `["` + uuid + `", "MIG-1"]`,
			want: Preference{Mode: List, Devices: []DeviceRef{{UUID: uuid}, {UUID: "MIG-1"}}}},
		{name: "indexes", json: `[1, 0]`, toml: `[1, 0]`, want: Preference{Mode: List, Devices: []DeviceRef{{Index: 1}, {Index: 0}}}},
		{name: "duplicates dropped", json: `[0, 0, "0"]`, toml: `[0, 0]`, want: Preference{Mode: List, Devices: []DeviceRef{{Index: 0}}}},
		{name: "bare uuid", json: `"` + uuid + `"`, toml: `"` + uuid + `"`, want: Preference{Mode: List, Devices: []DeviceRef{{UUID: uuid}}}},
		{name: "bare index", json: `1`, toml: `1`, want: Preference{Mode: List, Devices: []DeviceRef{{Index: 1}}}},
		{name: "empty list", json: `[]`, toml: `[]`, wantErr: "empty GPU list"},
		{name: "unknown word", json: `"fastest"`, toml: `"fastest"`, wantErr: `got "fastest"`},
		{name: "not a uuid", json: `["cuda:0"]`, toml: `["cuda:0"]`, wantErr: `gpu[0]: "cuda:0" is neither a GPU UUID`},
		{name: "negative index", json: `[-1]`, toml: `[-1]`, wantErr: "out of range"},
		{name: "fractional index", json: `[0.5]`, toml: `[0.5]`, wantErr: "not a whole number"},
		{name: "boolean", json: `true`, toml: `true`, wantErr: `gpu must be "auto"`},
		{name: "table", json: `{"a": 1}`, toml: `{a = 1}`, wantErr: `gpu must be "auto"`},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/json", func(t *testing.T) {
			var p Preference
			err := json.Unmarshal([]byte(tt.json), &p)
			checkPref(t, p, err, tt.want, tt.wantErr)
			if err == nil { // round trip
				var q Preference
				b, _ := json.Marshal(p)
				if err := json.Unmarshal(b, &q); err != nil || !reflect.DeepEqual(p, q) {
					t.Errorf("round trip of %s = %+v, %v", b, q, err)
				}
			}
		})
		t.Run(tt.name+"/toml", func(t *testing.T) {
			var doc struct {
				GPU Preference `toml:"gpu"`
			}
			// As the config package decodes: strict, with the unmarshaler interface enabled.
			dec := toml.NewDecoder(bytes.NewReader([]byte("gpu = " + tt.toml + "\n"))).DisallowUnknownFields().EnableUnmarshalerInterface()
			err := dec.Decode(&doc)
			checkPref(t, doc.GPU, err, tt.want, tt.wantErr)
		})
		t.Run(tt.name+"/any", func(t *testing.T) {
			// A config decoding the key into `any` and calling ParsePreference.
			var doc struct {
				GPU any `toml:"gpu"`
			}
			if err := toml.Unmarshal([]byte("gpu = "+tt.toml+"\n"), &doc); err != nil {
				t.Fatal(err)
			}
			p, err := ParsePreference(doc.GPU)
			checkPref(t, p, err, tt.want, tt.wantErr)
		})
	}
}

func checkPref(t *testing.T, got Preference, err error, want Preference, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want one containing %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
