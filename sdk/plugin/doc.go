// Package plugin is the SDK for out-of-process agent plugins (hashicorp/go-plugin over gRPC):
// extensions that need I/O, credentials or state, such as a model source for a private
// registry. An author implements one or more of sdk/extension's WorkflowParser, ModelSource
// and RecoveryStrategy and hands them to Serve from main:
//
//	func main() {
//		src := &mySource{}
//		plugin.Serve(plugin.Extension{Name: "my-source", Version: "1.0.0", Source: src, Configure: src.configure})
//	}
//
// Serve speaks the handshake (ProtocolVersion, MagicCookieKey CMFY_AGENT_PLUGIN), serves
// the capabilities as the gRPC services of sdk/proto/cmfy/plugin/v1, turns a panic in a
// handler into an error result (the process survives), writes its log as hclog JSON on
// stderr (the agent re-emits it tagged with the plugin) and exits when the agent that started
// it is gone.
//
// The agent's side of the same protocol (NewClientPlugins, Client) is here too, so the wire
// format is defined in one place.
package plugin
