// Command noexport declares model_source in its manifest but exports no cmfy_model_resolve.
package main

import (
	"runtime"
	"unsafe"
)

//go:wasmimport cmfy output_write
func outputWrite(ptr unsafe.Pointer, n uint32)

//go:wasmexport cmfy_abi_version
func abiVersion() uint32 { return 1 }

//go:wasmexport cmfy_init
func cmfyInit(n uint32) uint32 {
	b := []byte(`{"name":"noexport","version":"0","capabilities":["model_source"]}`)
	outputWrite(unsafe.Pointer(&b[0]), uint32(len(b)))
	runtime.KeepAlive(b)
	return 0
}

func main() {}
