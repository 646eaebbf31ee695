// Command registry-source is an agent plugin: a model source for a private HTTP model
// registry. It reads the registry's index (name, folder, sha256, size and URL of every model)
// with a bearer token and answers the agent's import resolution and downloads with the
// registry's URL, sha256 and the token, so a workflow that needs a house model imports with no
// manual step. See README.md for the index format and the configuration.
package main

import "github.com/comfylauncher/launcher/sdk/plugin"

func main() {
	src := newSource(nil)
	plugin.Serve(plugin.Extension{Name: "registry-source", Version: version, Source: src, Configure: src.configure})
}
