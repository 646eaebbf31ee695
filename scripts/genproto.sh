#!/usr/bin/env bash
# Regenerates the Go code of the plugin protocol (sdk/proto) with the generators pinned in
# go.mod's tool directive (protoc-gen-go, protoc-gen-go-grpc) and protoc from Debian's
# protobuf-compiler (apt-get install -y protobuf-compiler).
#   scripts/genproto.sh          regenerate in place
#   scripts/genproto.sh --check  generate into a temporary directory and fail if the committed
#                                code differs (CI runs this)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
command -v protoc >/dev/null || { echo "protoc not found: apt-get install -y protobuf-compiler" >&2; exit 1; }
check=false
[ "${1:-}" = "--check" ] && check=true
out="$root"
if $check; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
gen_go="$(go tool -n protoc-gen-go)"
gen_grpc="$(go tool -n protoc-gen-go-grpc)"
mapfile -t protos < <(find sdk/proto -name '*.proto' | sort)
protoc -I sdk/proto \
  --plugin=protoc-gen-go="$gen_go" --plugin=protoc-gen-go-grpc="$gen_grpc" \
  --go_out="$out" --go_opt=module=github.com/comfylauncher/launcher \
  --go-grpc_out="$out" --go-grpc_opt=module=github.com/comfylauncher/launcher \
  "${protos[@]}"
if $check; then
  stale=0
  while IFS= read -r f; do
    rel="${f#"$out"/}"
    if ! diff -u "$rel" "$f" >/dev/null 2>&1; then
      echo "stale generated code: $rel (run scripts/genproto.sh and commit the result)" >&2
      diff -u "$rel" "$f" | head -20 >&2 || true
      stale=1
    fi
  done < <(find "$out" -name '*.pb.go' | sort)
  # A generated file whose .proto is gone is stale too.
  while IFS= read -r f; do
    [ -f "$out/$f" ] || { echo "generated file without a .proto: $f" >&2; stale=1; }
  done < <(find sdk/proto -name '*.pb.go' | sort)
  [ "$stale" = 0 ] && echo "sdk/proto: generated code is current"
  exit "$stale"
fi
