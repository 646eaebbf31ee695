// Package wasm is the guest SDK for WASM extensions of the ComfyUI launcher agent. An
// extension implements one or more interfaces of sdk/extension (WorkflowParser, ModelSource,
// RecoveryStrategy), registers them in init() and is built with the standard toolchain:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o my.wasm .
//
// The SDK owns every export of the cmfy WASM ABI v1 (cmfy_abi_version, cmfy_init and one per
// capability) and does the JSON in and out; a panic in a handler comes back to the agent as an
// error result ({"code":"panic"}) and the instance keeps serving. Everything but this file
// builds only for wasip1; README.md is the tutorial.
package wasm
