// Package pluginv1 holds the messages of the cmfy agent plugin protocol, version 1, generated
// from messages.proto by scripts/genproto.sh. It imports no gRPC, so any package may use the
// messages; the services are in pluginv1grpc.
package pluginv1
