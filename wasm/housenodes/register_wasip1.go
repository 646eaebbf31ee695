package main

import wasm "github.com/comfylauncher/launcher/sdk/wasm"

func init() {
	p := &Parser{}
	wasm.SetInfo("housenodes", "1.0.0")
	wasm.OnInit(p.Configure)
	wasm.RegisterParser(p)
}
