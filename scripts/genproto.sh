#!/usr/bin/env bash
# Regenerates the Go code of the plugin protocol (sdk/proto) with the generators pinned in
# go.mod's tool directive (protoc-gen-go, protoc-gen-go-grpc) and protoc from Debian's
# protobuf-compiler. Usage: scripts/genproto.sh [OUTPUT_ROOT] — OUTPUT_ROOT defaults to the
# repository; the CI check generates into a temporary directory and diffs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root}"
command -v protoc >/dev/null || { echo "protoc not found: apt-get install -y protobuf-compiler" >&2; exit 1; }
cd "$root"
gen_go="$(go tool -n protoc-gen-go)"
gen_grpc="$(go tool -n protoc-gen-go-grpc)"
mkdir -p "$out"
protoc -I sdk/proto \
  --plugin=protoc-gen-go="$gen_go" --plugin=protoc-gen-go-grpc="$gen_grpc" \
  --go_out="$out" --go_opt=module=github.com/comfylauncher/launcher \
  --go-grpc_out="$out" --go-grpc_opt=module=github.com/comfylauncher/launcher \
  $(find sdk/proto -name '*.proto' | sort)
