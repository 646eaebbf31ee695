#!/usr/bin/env bash
# Builds the go-plugin plugins shipped in plugins/ (each a main package) and prints the sha256
# each [[extensions]] entry needs. Usage: scripts/build-plugins.sh [OUT_DIR] (default dist/plugins).
# Cross-compile with GOOS/GOARCH in the environment, as for any Go program.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist/plugins}"
mkdir -p "$out"
for dir in plugins/*/; do
  name="$(basename "$dir")"
  [ -f "$dir/main.go" ] || continue
  CGO_ENABLED=0 go build -trimpath -o "$out/$name" "./$dir"
  printf '%s  %s\n' "$(sha256sum "$out/$name" | cut -d' ' -f1)" "$out/$name"
done
