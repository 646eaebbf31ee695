package main

import wasm "github.com/comfylauncher/launcher/sdk/wasm"

func init() {
	s := &Source{}
	wasm.SetInfo("mirror", "1.0.0")
	wasm.OnInit(s.Configure)
	wasm.RegisterSource(s)
}
