#!/usr/bin/env bash
# process.sh: supervisor numbers with the fake ComfyUI (python3 needed).
#   start-to-ready at FAKE_COMFYUI_DELAY=0.5, supervised vs an unsupervised 1 ms poll loop
#   RSS and goroutines of one supervisor with 20 running fakes
# Usage: scripts/bench/process.sh [runs-for-start-to-ready, default 5]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
pkg=./agent/internal/process/
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench 'StartToReady' -benchtime "${runs}x" "$pkg" >"$out"
go test -run '^$' -bench 'Supervise20' -benchtime 1x "$pkg" >>"$out"

metric() { # metric BENCH-REGEX UNIT
	awk -v b="$1" -v u="$2" '$1 ~ b { for (i = 2; i <= NF; i++) if ($i == u) print $(i-1) }' "$out"
}
printf '%-44s %s\n' "measure" "value"
printf '%-44s %s ms\n' "start->ready, supervised (delay 0.5 s)" "$(metric 'StartToReady/supervised' ready-ms)"
printf '%-44s %s ms\n' "start->ready, bare spawn + 1 ms poll" "$(metric 'StartToReady/baseline' ready-ms)"
printf '%-44s %s ms\n' "overhead = supervised - delay" "$(metric 'StartToReady/supervised' overhead-ms)"
printf '%-44s %s MB\n' "supervisor RSS, 20 running fakes" "$(metric 'Supervise20' rss-MB)"
printf '%-44s %s MB\n' "RSS growth for the 20" "$(metric 'Supervise20' rss-delta-MB)"
printf '%-44s %s\n' "goroutines with 20 running" "$(metric 'Supervise20' goroutines)"
