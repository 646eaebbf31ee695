// Command wrongcookie is a go-plugin plugin of another application (another magic cookie):
// the agent must refuse it with a message that says so.
package main

import goplugin "github.com/hashicorp/go-plugin"

func main() {
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: goplugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "OTHER_APP_PLUGIN", MagicCookieValue: "other"},
		Plugins:         goplugin.PluginSet{},
		GRPCServer:      goplugin.DefaultGRPCServer,
	})
}
