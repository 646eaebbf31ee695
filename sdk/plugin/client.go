package plugin

import (
	"context"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
	pb "github.com/comfylauncher/launcher/sdk/proto/cmfy/plugin/v1"
	"github.com/comfylauncher/launcher/sdk/proto/cmfy/plugin/v1/pluginv1grpc"
)

// Client is the agent's side of one running plugin process: the sdk/extension interfaces over
// gRPC. An error the plugin returned on purpose comes back as *extension.Error; a transport
// failure as the gRPC status (Unavailable when the process is gone, DeadlineExceeded past the
// call's deadline).
type Client struct {
	done     <-chan struct{}
	info     pluginv1grpc.PluginServiceClient
	parser   pluginv1grpc.WorkflowParserServiceClient
	source   pluginv1grpc.ModelSourceServiceClient
	strategy pluginv1grpc.RecoveryStrategyServiceClient
}

var (
	_ sdk.WorkflowParser   = (*Client)(nil)
	_ sdk.ModelSource      = (*Client)(nil)
	_ sdk.RecoveryStrategy = (*Client)(nil)
)

// Exited is closed when the plugin process has exited.
func (c *Client) Exited() <-chan struct{} { return c.done }

// Info asks the plugin for its manifest.
func (c *Client) Info(ctx context.Context) (sdk.Manifest, error) {
	m, err := c.info.Info(ctx, &pb.InfoRequest{})
	if err != nil {
		return sdk.Manifest{}, fromStatus(err)
	}
	return manifestFromPB(m), nil
}

// Configure hands the plugin its config.
func (c *Client) Configure(ctx context.Context, req sdk.InitRequest) error {
	_, err := c.info.Configure(ctx, &pb.ConfigureRequest{HostVersion: req.HostVersion, ConfigJson: req.Config})
	return fromStatus(err)
}

// ParseWorkflow implements extension.WorkflowParser.
func (c *Client) ParseWorkflow(ctx context.Context, req sdk.ParseRequest) (sdk.ParseResult, error) {
	in, err := parseRequestToPB(req)
	if err != nil {
		return sdk.ParseResult{}, err
	}
	out, err := c.parser.Parse(ctx, in)
	if err != nil {
		return sdk.ParseResult{}, fromStatus(err)
	}
	return parseResultFromPB(out), nil
}

// ResolveModel implements extension.ModelSource.
func (c *Client) ResolveModel(ctx context.Context, req sdk.ResolveRequest) (sdk.ResolveResponse, error) {
	out, err := c.source.Resolve(ctx, resolveRequestToPB(req))
	if err != nil {
		return sdk.ResolveResponse{}, fromStatus(err)
	}
	return resolveResponseFromPB(out), nil
}

// Decide implements extension.RecoveryStrategy.
func (c *Client) Decide(ctx context.Context, in sdk.StrategyInput) (sdk.StrategyDecision, error) {
	out, err := c.strategy.Decide(ctx, strategyInputToPB(in))
	if err != nil {
		return sdk.StrategyDecision{}, fromStatus(err)
	}
	return decisionFromPB(out), nil
}
