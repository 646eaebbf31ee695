package plugin

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/comfylauncher/launcher/sdk/proto/cmfy/plugin/v1/pluginv1grpc"
)

// ProtocolVersion is the version of the plugin protocol this SDK speaks (sdk/proto/cmfy/plugin/v1).
// The agent offers every version it supports; a plugin and the agent agree on the highest
// common one.
const ProtocolVersion = 1

// MagicCookieKey and MagicCookieValue tell a plugin binary that the agent started it. The
// cookie is not a security measure (the sha256 in launcher.toml is): it stops a plugin run by
// hand, or another application's plugin, from being mistaken for one of ours.
const (
	MagicCookieKey   = "CMFY_AGENT_PLUGIN"
	MagicCookieValue = "b1e4c0de-cmfy-agent-plugin-v1"
)

// PluginName is the one plugin type a plugin binary serves; its services are the
// capabilities its manifest declares.
const PluginName = "extension"

// Handshake is the go-plugin handshake both sides use.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   MagicCookieKey,
	MagicCookieValue: MagicCookieValue,
}

// grpcPlugin is the go-plugin glue for one protocol version: on the plugin side it registers
// the services of ext, on the agent side it returns a Client.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	ext Extension
}

var _ goplugin.GRPCPlugin = (*grpcPlugin)(nil)

func (p *grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	register(s, p.ext)
	return nil
}

func (p *grpcPlugin) GRPCClient(ctx context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Client{
		done:     ctx.Done(),
		info:     pluginv1grpc.NewPluginServiceClient(c),
		parser:   pluginv1grpc.NewWorkflowParserServiceClient(c),
		source:   pluginv1grpc.NewModelSourceServiceClient(c),
		strategy: pluginv1grpc.NewRecoveryStrategyServiceClient(c),
	}, nil
}

// NewClientPlugins is the agent's VersionedPlugins: every protocol version it speaks.
func NewClientPlugins() map[int]goplugin.PluginSet {
	return map[int]goplugin.PluginSet{ProtocolVersion: {PluginName: &grpcPlugin{}}}
}
