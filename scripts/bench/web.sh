#!/usr/bin/env bash
# web.sh: the embedded dashboard in headless Chromium (chromium, git and python3 needed).
#   bytes transferred for a cold load (cache disabled), first contentful paint, projects page
#   rendered with its data, and the delay from a progress_update published in the agent to the
#   progress bar showing it (p50 and p95 of 20 events per run).
# Usage: scripts/bench/web.sh [runs, default 5]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench 'BenchmarkDashboard' -benchtime "${runs}x" ./agent/internal/web/ >"$out"

metric() { # metric UNIT
	awk -v u="$1" '$1 ~ /^BenchmarkDashboard/ { for (i = 2; i <= NF; i++) if ($i == u) print $(i-1) }' "$out"
}
printf '%-52s %s\n' "measure (mean of $runs cold loads)" "value"
printf '%-52s %s KB\n' "dashboard weight, cold load" "$(metric cold-KB)"
printf '%-52s %s ms\n' "first contentful paint" "$(metric fcp-ms)"
printf '%-52s %s ms\n' "projects page rendered with data, live" "$(metric render-ms)"
printf '%-52s %s ms\n' "progress_update -> progress bar, p50" "$(metric event-ms)"
printf '%-52s %s ms\n' "progress_update -> progress bar, p95" "$(metric event-p95-ms)"
