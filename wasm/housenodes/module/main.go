//go:build wasip1

// Command module builds the housenodes extension (workflow parser) as a WASM module:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o housenodes.wasm ./wasm/housenodes/module
//
// The logic, its config and its tests are in the parent package.
package main

import (
	"github.com/comfylauncher/launcher/wasm/housenodes"

	wasm "github.com/comfylauncher/launcher/sdk/wasm"
)

func init() { // init, not main: main() is not run in -buildmode=c-shared
	x := &housenodes.Parser{}
	wasm.SetInfo("housenodes", "1.0.0")
	wasm.OnInit(x.Configure)
	wasm.RegisterParser(x)
}

func main() {}
