#!/usr/bin/env bash
# POST /api/import_project with a large workflow against the built agent: the time of each
# request (curl's time_total) and the agent's RSS before and its peak (VmHWM) after. The body
# is the shared corpus' UI workflows merged to SIZE_MIB (workflowtest.Merged, printed by the
# bigworkflow helper) with skipping_model_validation, so each import creates a project; the
# installs fail at once (the ComfyUI repository URL is a closed loopback port), as offline ones
# would, and nothing touches the internet. BenchmarkImportProject4MB (project/bind) is the
# in-process twin.
# Usage: scripts/bench/import.sh [SIZE_MIB] [runs]   (default 4 MiB, 5 imports)
#        LAUNCHER_BIN=path measures another build.
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib=${1:-4}
runs=${2:-5}
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
bin=${LAUNCHER_BIN:-$tmp/launcher}
[ -n "${LAUNCHER_BIN:-}" ] || go build -o "$bin" ./agent/cmd/launcher
corpus=../shared/corpus
[ -d "$corpus" ] || corpus=/work/shared/corpus
go build -o "$tmp/bigworkflow" ./agent/internal/workflow/workflowtest/bigworkflow

cat >"$tmp/launcher.toml" <<TOML
[server]
listen = "127.0.0.1:0"
log_level = "warn"
[paths]
data_dir = "$tmp/data"
[gpu]
provider = "none"
[comfyui]
repo = "http://127.0.0.1:9/ComfyUI.git"
[manager]
max_age = "720h"
extension_node_map_url = "http://127.0.0.1:9/extension-node-map.json"
github_stats_url = "http://127.0.0.1:9/github-stats.json"
model_list_url = "http://127.0.0.1:9/model-list.json"
custom_node_list_url = "http://127.0.0.1:9/custom-node-list.json"
TOML
# The Manager cache is seeded, as on a node that has run before: the analysis uses it.
"$bin" manager-data import --config "$tmp/launcher.toml" "$corpus/manager" >/dev/null

mkfifo "$tmp/fifo"
"$bin" serve --config "$tmp/launcher.toml" >"$tmp/fifo" 2>"$tmp/err" &
pid=$!
exec 3<"$tmp/fifo"
line=
while IFS= read -r line <&3; do
	case $line in *"serving on"*) break ;; esac
done
addr=$(sed -n 's/.*serving on \(http[^ ]*\).*/\1/p' <<<"$line")
[ -n "$addr" ] || { cat "$tmp/err"; exit 1; }
for _ in $(seq 1 200); do
	curl -fsS "$addr/api/health" 2>/dev/null | grep -q '"state":"loading"' || break
	sleep 0.05
done
rss0=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")

printf '%-6s %-10s %-8s %-12s\n' import bytes status seconds
: >"$tmp/secs"
for i in $(seq 1 "$runs"); do
	"$tmp/bigworkflow" -corpus "$corpus/workflows" -size $((size_mib << 20)) -name "import $i" >"$tmp/body.json"
	out=$(curl -sS -o "$tmp/resp.json" -w '%{http_code} %{time_total}' -H 'Content-Type: application/json' \
		--data-binary @"$tmp/body.json" "$addr/api/import_project")
	read -r code secs <<<"$out"
	[ "$code" = 200 ] || { echo "import $i: HTTP $code: $(head -c 300 "$tmp/resp.json")" >&2; exit 1; }
	printf '%-6s %-10s %-8s %-12s\n' "$i" "$(stat -c %s "$tmp/body.json")" "$code" "$secs"
	echo "$secs" >>"$tmp/secs"
done
median=$(sort -n "$tmp/secs" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
printf 'median %s s; agent RSS %d MiB before, peak %d MiB\n' "$median" $((rss0 / 1024)) $((hwm / 1024))
