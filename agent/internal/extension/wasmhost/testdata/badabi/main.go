// Command badabi claims ABI version 2.
package main

//go:wasmexport cmfy_abi_version
func abiVersion() uint32 { return 2 }

//go:wasmexport cmfy_init
func cmfyInit(n uint32) uint32 { return 0 }

func main() {}
