#!/usr/bin/env bash
# Builds the WASM extensions shipped in wasm/ with the standard toolchain and prints the
# sha256 each [[extensions]] entry needs. Usage: scripts/build-wasm.sh [OUT_DIR] (default dist/wasm).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist/wasm}"
mkdir -p "$out"
for dir in wasm/*/; do
  name="$(basename "$dir")"
  [ -d "$dir/module" ] || continue
  GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared -trimpath -o "$out/$name.wasm" "./${dir}module"
  printf '%s  %s\n' "$(sha256sum "$out/$name.wasm" | cut -d' ' -f1)" "$out/$name.wasm"
done
