#!/usr/bin/env bash
# Measures the agent's start-to-serving time and idle RSS on a fresh data directory.
# Usage: scripts/bench/agent.sh [runs]   (prints a table)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/launcher" ./agent/cmd/launcher
printf '%-5s %-18s %-14s\n' run start_to_serving idle_rss_kib
for i in $(seq 1 "$runs"); do
  data="$tmp/data$i"
  cat >"$tmp/l.toml" <<TOML
[server]
listen = "127.0.0.1:0"
log_level = "warn"
[paths]
data_dir = "$data"
[gpu]
provider = "none"
TOML
  rm -f "$tmp/out"
  start=$(date +%s%N)
  "$tmp/launcher" serve --config "$tmp/l.toml" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  until grep -q "serving on" "$tmp/out" 2>/dev/null; do
    kill -0 $pid 2>/dev/null || { cat "$tmp/err"; exit 1; }
    sleep 0.005
  done
  ready=$(date +%s%N)
  sleep 2
  rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
  kill -TERM $pid; wait $pid || true
  printf '%-5s %-18s %-14s\n' "$i" "$(( (ready-start)/1000000 )) ms" "$rss"
done
