package main

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
	"github.com/comfylauncher/launcher/sdk/plugin"
	"github.com/comfylauncher/launcher/wasm/mirror"
)

// The other plugins the tests need, chosen by the name the binary is run under (one build,
// several copies): linking a gRPC binary is the slow part of these tests.
var personas = map[string]func(){
	// wrongcookie is a go-plugin plugin of another application (another magic cookie).
	"wrongcookie": func() {
		goplugin.Serve(&goplugin.ServeConfig{
			HandshakeConfig: goplugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "OTHER_APP_PLUGIN", MagicCookieValue: "other"},
			Plugins:         goplugin.PluginSet{},
			GRPCServer:      goplugin.DefaultGRPCServer,
		})
	},
	// wrongversion speaks only plugin protocol version 2, which the agent does not know.
	"wrongversion": func() {
		hs := plugin.Handshake
		hs.ProtocolVersion = 2
		goplugin.Serve(&goplugin.ServeConfig{
			HandshakeConfig:  hs,
			VersionedPlugins: map[int]goplugin.PluginSet{2: {plugin.PluginName: v2{}}},
			GRPCServer:       goplugin.DefaultGRPCServer,
		})
	},
	// mirrorplugin serves the shipped mirror model source (wasm/mirror), so a benchmark
	// compares the same code in-process, over WASM and over the plugin transport.
	"mirrorplugin": func() {
		s := &mirror.Source{}
		plugin.Serve(plugin.Extension{Name: "mirror", Version: "1.0.0", Source: s,
			Configure: func(_ context.Context, req sdk.InitRequest) error { return s.Configure(req.Config) }})
	},
}

type v2 struct {
	goplugin.NetRPCUnsupportedPlugin
}

func (v2) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error { return nil }
func (v2) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}
