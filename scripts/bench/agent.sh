#!/usr/bin/env bash
# Measures the agent's start-to-serving time (exec until "serving on" is printed) and its idle RSS,
# on a fresh data directory and on one whose ComfyUI-Manager cache holds the real data files
# (6.6 MB, seeded from shared/corpus/manager when present, else from the workflow test fixture).
# The Manager URLs point at a closed loopback port, so no run touches the internet and a cached
# run that fetched anyway would show in the log.
# Usage: scripts/bench/agent.sh [runs]     LAUNCHER_BIN=path measures another build.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=${LAUNCHER_BIN:-$tmp/launcher}
[ -n "${LAUNCHER_BIN:-}" ] || go build -o "$bin" ./agent/cmd/launcher
seed=../shared/corpus/manager
[ -d "$seed" ] || seed=/work/shared/corpus/manager
[ -d "$seed" ] || seed=agent/internal/workflow/testdata/manager

config() { # data_dir
  cat <<TOML
[server]
listen = "127.0.0.1:0"
log_level = "warn"
[paths]
data_dir = "$1"
[gpu]
provider = "none"
[manager]
max_age = "720h"
extension_node_map_url = "http://127.0.0.1:9/extension-node-map.json"
github_stats_url = "http://127.0.0.1:9/github-stats.json"
model_list_url = "http://127.0.0.1:9/model-list.json"
custom_node_list_url = "http://127.0.0.1:9/custom-node-list.json"
TOML
}

# seed_cache CONFIG: the operator's import when this build has it, else a plain copy.
seed_cache() {
  if "$bin" manager-data import --config "$1" "$seed" >/dev/null 2>"$tmp/import.err"; then
    return
  fi
  mkdir -p "$2/manager"
  cp "$seed"/*.json "$2/manager/"
}

printf 'manager data: %s (%s)\n' "$seed" "$(du -sh "$seed" | cut -f1)"
printf '%-8s %-5s %-18s %-14s\n' cache run start_to_serving idle_rss_kib
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for mode in empty cached; do
  : >"$tmp/ms" ; : >"$tmp/rss"
  for i in $(seq 1 "$runs"); do
    data="$tmp/$mode$i"
    config "$data" >"$tmp/$mode$i.toml"
    [ "$mode" = empty ] || seed_cache "$tmp/$mode$i.toml" "$data"
    # The serving line is read from a FIFO (woken by the write, no polling) and both times
    # come from $EPOCHREALTIME (no fork), so the load on the machine distorts them least.
    rm -f "$tmp/out" "$tmp/fifo"
    mkfifo "$tmp/fifo"
    start=${EPOCHREALTIME/./}
    "$bin" serve --config "$tmp/$mode$i.toml" >"$tmp/fifo" 2>"$tmp/err" &
    pid=$!
    exec 3<"$tmp/fifo"
    while IFS= read -r line <&3; do
      case $line in *"serving on"*) break ;; esac
    done
    ready=${EPOCHREALTIME/./}
    [ -n "${line:-}" ] || { cat "$tmp/err"; exit 1; }
    echo "$line" >"$tmp/out"
    addr=$(sed -n 's/.*serving on \(http[^ ]*\).*/\1/p' "$tmp/out")
    # Idle means the background load has finished: wait for health to stop saying "loading".
    for _ in $(seq 1 200); do
      curl -fsS "$addr/api/health" 2>/dev/null | grep -q '"state":"loading"' || break
      sleep 0.05
    done
    sleep 2
    rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
    kill -TERM $pid; wait $pid || true
    exec 3<&-
    ms=$(( (ready-start)/1000 ))
    printf '%-8s %-5s %-18s %-14s\n' "$mode" "$i" "$ms ms" "$rss"
    echo "$ms" >>"$tmp/ms"; echo "$rss" >>"$tmp/rss"
  done
  printf '%-8s %-5s %-18s %-14s\n' "$mode" median "$(median <"$tmp/ms") ms" "$(median <"$tmp/rss")"
done
