// Command mirrorplugin serves the shipped mirror model source (wasm/mirror) as a plugin, so a
// benchmark can compare the same code in-process, over WASM and over the plugin transport.
package main

import (
	"context"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
	"github.com/comfylauncher/launcher/sdk/plugin"
	"github.com/comfylauncher/launcher/wasm/mirror"
)

func main() {
	s := &mirror.Source{}
	plugin.Serve(plugin.Extension{Name: "mirror", Version: "1.0.0", Source: s,
		Configure: func(_ context.Context, req sdk.InitRequest) error { return s.Configure(req.Config) }})
}
