package wasmhost

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/extension"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// TestGuestWireMatchesEncodingJSON sends raw requests to a real guest (the hostile module's
// strategy echoes a message with the keyword hostile-echo into its answer) and checks that
// the guest SDK's codec decodes and encodes exactly as encoding/json: the answer's bytes are json.Marshal of what
// json.Unmarshal decodes, and a request encoding/json refuses is a bad_request carrying
// encoding/json's own message.
func TestGuestWireMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	m, _ := mustOpen(t, "hostile", extension.Limits{}, "")
	for _, raw := range []string{
		`{"class":"unknown","message":"hostile-echo plain","attempt":1,"elapsed_seconds":0}`,
		`{"message":"hostile-echo <b>&amp;</b> \u2028\u2029 \ud83d\ude00 caf\u00e9 \"q\" \\ \/ \t\n\u0001"}`,
		"{\"message\":\"hostile-echo invalid \xff\xfe utf-8 \xc3\"}",
		`{"MESSAGE":"hostile-echo case-folded key","Attempt":2}`,
		`{"message":"hostile-echo first","message":"hostile-echo last wins"}`,
		`{"mess\u0061ge":"hostile-echo escaped key","unknown":[1,{"x":null}]}`,
		`  {"message":"hostile-echo whitespace"}  `,
		`{"message":"x","attempt":1.5}`,
		`{"message":"x","attempt":"1"}`,
		`{"message":"unterminated}`,
		`{"message":"x"} trailing`,
		`[]`,
		``,
	} {
		var in sdk.StrategyInput
		decodeErr := json.Unmarshal([]byte(raw), &in)
		out, err := m.Call(context.Background(), sdk.CapRecoveryStrategy, []byte(raw))
		if decodeErr != nil {
			var ge *sdk.Error
			if !errors.As(err, &ge) || ge.Code != "bad_request" || ge.Message != decodeErr.Error() {
				t.Errorf("%q: got %s, %v; want bad_request %q", raw, out, err, decodeErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", raw, err)
			continue
		}
		want, _ := json.Marshal(sdk.StrategyDecision{Class: "echo:" + in.Message, Retry: true})
		if string(out) != string(want) {
			t.Errorf("%q:\n got %s\nwant %s", raw, out, want)
		}
	}
}
