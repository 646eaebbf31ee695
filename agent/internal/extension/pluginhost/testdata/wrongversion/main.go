// Command wrongversion speaks only plugin protocol version 2, which the agent does not know:
// the agent must refuse it with a message naming both versions.
package main

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/comfylauncher/launcher/sdk/plugin"
)

type v2 struct {
	goplugin.NetRPCUnsupportedPlugin
}

func (v2) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error { return nil }
func (v2) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

func main() {
	hs := plugin.Handshake
	hs.ProtocolVersion = 2
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: map[int]goplugin.PluginSet{2: {plugin.PluginName: v2{}}},
		GRPCServer:       goplugin.DefaultGRPCServer,
	})
}
