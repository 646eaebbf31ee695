// Package pluginv1grpc holds the gRPC services of the cmfy agent plugin protocol, version 1,
// generated from service.proto by scripts/genproto.sh. Plugins reach it through sdk/plugin;
// the agent through its plugin host.
package pluginv1grpc
