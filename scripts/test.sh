#!/usr/bin/env bash
# Runs every test of the agent. Installs the Node packages of the Socket.IO end-to-end client
# (scripts/e2e, from its committed lock file) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f scripts/e2e/package-lock.json ] && [ ! -d scripts/e2e/node_modules ] && command -v npm >/dev/null; then
  (cd scripts/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
go vet ./...
# The WASM guest SDK and the shipped modules only build for wasip1.
GOOS=wasip1 GOARCH=wasm go vet ./sdk/... ./wasm/...
exec go test -count=1 -timeout 20m "$@" ./...
