package main

import wasm "github.com/comfylauncher/launcher/sdk/wasm"

func init() {
	s := &Strategy{}
	wasm.SetInfo("classify", "1.0.0")
	wasm.OnInit(s.Configure)
	wasm.RegisterStrategy(s)
}
