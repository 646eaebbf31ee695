package plugin

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// TestConversionsRoundTrip: every field of every sdk type survives the trip through the
// protocol's messages (a field added to one side and not the other fails here).
func TestConversionsRoundTrip(t *testing.T) {
	m := sdk.Manifest{Name: "n", Version: "1.2.3", ABIMinor: 2, Capabilities: []sdk.Capability{sdk.CapModelSource, sdk.CapRecoveryStrategy}}
	if got := manifestFromPB(manifestToPB(m)); !reflect.DeepEqual(got, m) {
		t.Errorf("manifest: %+v", got)
	}
	pr := sdk.ParseRequest{Format: "ui", Raw: json.RawMessage(`{"a":1}`), Options: map[string]string{"k": "v"}, Nodes: []sdk.WorkflowNode{
		{ID: "1", Type: "T", Inactive: true, Inputs: map[string]any{"s": "x", "n": 2.5, "b": true, "l": []any{"a", 1.0}, "o": map[string]any{"z": nil}},
			Widgets: []any{"w", 3.0, nil, false}}}}
	in, err := parseRequestToPB(pr)
	if err != nil {
		t.Fatal(err)
	}
	if got := parseRequestFromPB(in); !reflect.DeepEqual(got, pr) {
		t.Errorf("parse request:\n got %+v\nwant %+v", got, pr)
	}
	res := sdk.ParseResult{Models: []sdk.ModelRef{{Filename: "f", Folder: "loras", NodeID: "1", NodeType: "T", Input: "i", URL: "u", SHA256: "s", Size: 9}},
		Packs: []sdk.PackRef{{NodeType: "T", Repo: "r"}}, Tags: []string{"t"}, Warnings: []string{"w"}}
	if got := parseResultFromPB(parseResultToPB(res)); !reflect.DeepEqual(got, res) {
		t.Errorf("parse result: %+v", got)
	}
	rq := sdk.ResolveRequest{Reference: "r", Query: sdk.ModelQuery{Name: "n", Folder: "f", URL: "u", SHA256: "s", NodeType: "t"}}
	if got := resolveRequestFromPB(resolveRequestToPB(rq)); !reflect.DeepEqual(got, rq) {
		t.Errorf("resolve request: %+v", got)
	}
	rs := sdk.ResolveResponse{Candidates: []sdk.Download{{ModelCandidate: sdk.ModelCandidate{Source: "s", URL: "u", Filename: "f", Folder: "d",
		SHA256: "h", Size: 5, Reference: "r", Confidence: 0.7}, Headers: map[string]string{"Authorization": "Bearer x"}}}}
	if got := resolveResponseFromPB(resolveResponseToPB(rs)); !reflect.DeepEqual(got, rs) {
		t.Errorf("resolve response: %+v", got)
	}
	si := sdk.StrategyInput{Class: "c", Message: "m", ExitCode: 3, Attempt: 2, Elapsed: 1.5, Function: "f"}
	if got := strategyInputFromPB(strategyInputToPB(si)); !reflect.DeepEqual(got, si) {
		t.Errorf("strategy input: %+v", got)
	}
	d := sdk.StrategyDecision{NotMine: true, Retry: true, DelaySeconds: -1, Class: "network", Suggestion: "s"}
	if got := decisionFromPB(decisionToPB(d)); !reflect.DeepEqual(got, d) {
		t.Errorf("decision: %+v", got)
	}
}

func TestErrorsCrossAsStatus(t *testing.T) {
	e := &sdk.Error{Code: "auth", Message: "no", Retryable: true}
	st := toStatus(e)
	if s, _ := status.FromError(st); s.Code() != codes.FailedPrecondition {
		t.Fatalf("code = %v", s.Code())
	}
	var back *sdk.Error
	if !errors.As(fromStatus(st), &back) || *back != *e {
		t.Fatalf("back = %v", fromStatus(st))
	}
	plain := fromStatus(toStatus(errors.New("boom")))
	if s, _ := status.FromError(plain); s.Code() != codes.Unknown || s.Message() != "boom" {
		t.Fatalf("plain = %v", plain)
	}
}
