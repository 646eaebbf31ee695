package plugin

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
	pb "github.com/comfylauncher/launcher/sdk/proto/cmfy/plugin/v1"
)

// The conversions between sdk/extension's JSON types and the protocol's messages. Each pair
// is the identity on the other's fields; a field added to one side must be added here.

func manifestToPB(m sdk.Manifest) *pb.Manifest {
	caps := make([]string, 0, len(m.Capabilities))
	for _, c := range m.Capabilities {
		caps = append(caps, string(c))
	}
	return &pb.Manifest{Name: m.Name, Version: m.Version, AbiMinor: int32(m.ABIMinor), Capabilities: caps}
}

func manifestFromPB(m *pb.Manifest) sdk.Manifest {
	caps := make([]sdk.Capability, 0, len(m.GetCapabilities()))
	for _, c := range m.GetCapabilities() {
		caps = append(caps, sdk.Capability(c))
	}
	return sdk.Manifest{Name: m.GetName(), Version: m.GetVersion(), ABIMinor: int(m.GetAbiMinor()), Capabilities: caps}
}

func parseRequestToPB(r sdk.ParseRequest) (*pb.ParseRequest, error) {
	out := &pb.ParseRequest{Format: r.Format, WorkflowJson: r.Raw, Options: r.Options}
	for _, n := range r.Nodes {
		pn := &pb.WorkflowNode{Id: n.ID, Type: n.Type, Inactive: n.Inactive}
		if len(n.Inputs) > 0 {
			pn.Inputs = make(map[string]*structpb.Value, len(n.Inputs))
			for k, v := range n.Inputs {
				pv, err := structpb.NewValue(v)
				if err != nil {
					return nil, fmt.Errorf("node %s input %q: %w", n.ID, k, err)
				}
				pn.Inputs[k] = pv
			}
		}
		for i, v := range n.Widgets {
			pv, err := structpb.NewValue(v)
			if err != nil {
				return nil, fmt.Errorf("node %s widget %d: %w", n.ID, i, err)
			}
			pn.Widgets = append(pn.Widgets, pv)
		}
		out.Nodes = append(out.Nodes, pn)
	}
	return out, nil
}

func parseRequestFromPB(r *pb.ParseRequest) sdk.ParseRequest {
	out := sdk.ParseRequest{Format: r.GetFormat(), Raw: r.GetWorkflowJson(), Options: r.GetOptions()}
	for _, n := range r.GetNodes() {
		node := sdk.WorkflowNode{ID: n.GetId(), Type: n.GetType(), Inactive: n.GetInactive()}
		if len(n.GetInputs()) > 0 {
			node.Inputs = make(map[string]any, len(n.GetInputs()))
			for k, v := range n.GetInputs() {
				node.Inputs[k] = v.AsInterface()
			}
		}
		for _, v := range n.GetWidgets() {
			node.Widgets = append(node.Widgets, v.AsInterface())
		}
		out.Nodes = append(out.Nodes, node)
	}
	return out
}

func parseResultToPB(r sdk.ParseResult) *pb.ParseResult {
	out := &pb.ParseResult{Tags: r.Tags, Warnings: r.Warnings}
	for _, m := range r.Models {
		out.Models = append(out.Models, &pb.ModelRef{Filename: m.Filename, Folder: m.Folder, NodeId: m.NodeID,
			NodeType: m.NodeType, Input: m.Input, Url: m.URL, Sha256: m.SHA256, Size: m.Size})
	}
	for _, p := range r.Packs {
		out.Packs = append(out.Packs, &pb.PackRef{NodeType: p.NodeType, Repo: p.Repo})
	}
	return out
}

func parseResultFromPB(r *pb.ParseResult) sdk.ParseResult {
	out := sdk.ParseResult{Tags: r.GetTags(), Warnings: r.GetWarnings()}
	for _, m := range r.GetModels() {
		out.Models = append(out.Models, sdk.ModelRef{Filename: m.GetFilename(), Folder: m.GetFolder(), NodeID: m.GetNodeId(),
			NodeType: m.GetNodeType(), Input: m.GetInput(), URL: m.GetUrl(), SHA256: m.GetSha256(), Size: m.GetSize()})
	}
	for _, p := range r.GetPacks() {
		out.Packs = append(out.Packs, sdk.PackRef{NodeType: p.GetNodeType(), Repo: p.GetRepo()})
	}
	return out
}

func resolveRequestToPB(r sdk.ResolveRequest) *pb.ResolveRequest {
	q := r.Query
	return &pb.ResolveRequest{Reference: r.Reference, Query: &pb.ModelQuery{Name: q.Name, Folder: q.Folder, Url: q.URL, Sha256: q.SHA256, NodeType: q.NodeType}}
}

func resolveRequestFromPB(r *pb.ResolveRequest) sdk.ResolveRequest {
	q := r.GetQuery()
	return sdk.ResolveRequest{Reference: r.GetReference(), Query: sdk.ModelQuery{Name: q.GetName(), Folder: q.GetFolder(),
		URL: q.GetUrl(), SHA256: q.GetSha256(), NodeType: q.GetNodeType()}}
}

func resolveResponseToPB(r sdk.ResolveResponse) *pb.ResolveResponse {
	out := &pb.ResolveResponse{}
	for _, d := range r.Candidates {
		out.Candidates = append(out.Candidates, &pb.Download{Source: d.Source, Url: d.URL, Filename: d.Filename, Folder: d.Folder,
			Sha256: d.SHA256, Size: d.Size, Reference: d.Reference, Confidence: d.Confidence, Headers: d.Headers})
	}
	return out
}

func resolveResponseFromPB(r *pb.ResolveResponse) sdk.ResolveResponse {
	var out sdk.ResolveResponse
	for _, d := range r.GetCandidates() {
		out.Candidates = append(out.Candidates, sdk.Download{
			ModelCandidate: sdk.ModelCandidate{Source: d.GetSource(), URL: d.GetUrl(), Filename: d.GetFilename(), Folder: d.GetFolder(),
				SHA256: d.GetSha256(), Size: d.GetSize(), Reference: d.GetReference(), Confidence: d.GetConfidence()},
			Headers: d.GetHeaders()})
	}
	return out
}

func strategyInputToPB(in sdk.StrategyInput) *pb.StrategyInput {
	return &pb.StrategyInput{Class: in.Class, Message: in.Message, ExitCode: int64(in.ExitCode), Attempt: int64(in.Attempt),
		ElapsedSeconds: in.Elapsed, FunctionName: in.Function}
}

func strategyInputFromPB(in *pb.StrategyInput) sdk.StrategyInput {
	return sdk.StrategyInput{Class: in.GetClass(), Message: in.GetMessage(), ExitCode: int(in.GetExitCode()), Attempt: int(in.GetAttempt()),
		Elapsed: in.GetElapsedSeconds(), Function: in.GetFunctionName()}
}

func decisionToPB(d sdk.StrategyDecision) *pb.StrategyDecision {
	return &pb.StrategyDecision{NotMine: d.NotMine, Retry: d.Retry, DelaySeconds: d.DelaySeconds, Class: d.Class, Suggestion: d.Suggestion}
}

func decisionFromPB(d *pb.StrategyDecision) sdk.StrategyDecision {
	return sdk.StrategyDecision{NotMine: d.GetNotMine(), Retry: d.GetRetry(), DelaySeconds: d.GetDelaySeconds(), Class: d.GetClass(), Suggestion: d.GetSuggestion()}
}

// toStatus turns a handler's error into the gRPC status the agent decodes: an *sdk.Error
// travels as a FailedPrecondition status carrying a pb.Error detail; any other error is
// Unknown with its text.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var e *sdk.Error
	if errors.As(err, &e) {
		st := status.New(codes.FailedPrecondition, e.Error())
		if withDetail, derr := st.WithDetails(&pb.Error{Code: e.Code, Message: e.Message, Retryable: e.Retryable}); derr == nil {
			st = withDetail
		}
		return st.Err()
	}
	return status.Error(codes.Unknown, err.Error())
}

// fromStatus is toStatus reversed: a status carrying a pb.Error becomes that *sdk.Error; any
// other error is returned as it is (the host maps Unavailable and DeadlineExceeded itself).
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, d := range st.Details() {
		if e, ok := d.(*pb.Error); ok {
			return &sdk.Error{Code: e.GetCode(), Message: e.GetMessage(), Retryable: e.GetRetryable()}
		}
	}
	return err
}
