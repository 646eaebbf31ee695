//go:build wasip1

// Command module builds the mirror extension (model source) as a WASM module:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o mirror.wasm ./wasm/mirror/module
//
// The logic, its config and its tests are in the parent package.
package main

import (
	"github.com/comfylauncher/launcher/wasm/mirror"

	wasm "github.com/comfylauncher/launcher/sdk/wasm"
)

func init() { // init, not main: main() is not run in -buildmode=c-shared
	x := &mirror.Source{}
	wasm.SetInfo("mirror", "1.0.0")
	wasm.OnInit(x.Configure)
	wasm.RegisterSource(x)
}

func main() {}
