// Package extensione2e drives the three shipped WASM extensions and hostile guests through the
// HTTP API of a real agent (app.New), built once per test binary with the real toolchain.
package extensione2e
