//go:build wasip1

// Command module builds the classify extension (recovery strategy) as a WASM module:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o classify.wasm ./wasm/classify/module
//
// The logic, its config and its tests are in the parent package.
package main

import (
	"github.com/comfylauncher/launcher/wasm/classify"

	wasm "github.com/comfylauncher/launcher/sdk/wasm"
)

func init() { // init, not main: main() is not run in -buildmode=c-shared
	x := &classify.Strategy{}
	wasm.SetInfo("classify", "1.0.0")
	wasm.OnInit(x.Configure)
	wasm.RegisterStrategy(x)
}

func main() {}
