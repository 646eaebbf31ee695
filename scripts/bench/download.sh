#!/usr/bin/env bash
# Download throughput and memory: the agent's downloader against curl, same loopback server,
# same run. Prints a table. Usage: scripts/bench/download.sh [SIZE_MIB] (default 512; the issue's
# reference size is 2048). Needs go, curl, bc and python3; writes SIZE at a time under $TMPDIR.
# "vs curl" compares with a bare curl -o (no hash, no fsync); "vs curl+sha" with curl doing what
# the agent guarantees (sha256 of the stream, fsync before use). Peak RSS is VmHWM of the
# downloading process: it must not depend on SIZE.
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE_MIB=${1:-512}
SIZE=$((SIZE_MIB * 1024 * 1024))
WORK=$(mktemp -d)
trap 'kill $SERVER_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

go build -o "$WORK/downloadbench" ./agent/internal/models/download/downloadbench
"$WORK/downloadbench" serve -size "$SIZE" >"$WORK/server.txt" &
SERVER_PID=$!
for _ in $(seq 100); do [ -s "$WORK/server.txt" ] && break; sleep 0.1; done
read -r URL SHA <"$WORK/server.txt"

run_curl() {
	local t0 t1
	t0=$(date +%s.%N)
	/usr/bin/time -f "%M" -o "$WORK/curl.rss" curl -sS -o "$WORK/curl.bin" "$URL"
	t1=$(date +%s.%N)
	echo "$t0 $t1"
}

read -r C0 C1 < <(run_curl)
CURL_S=$(echo "$C1 - $C0" | bc -l)
CURL_RSS=$(cat "$WORK/curl.rss")
CURL_SHA=$(sha256sum "$WORK/curl.bin" | cut -d' ' -f1)
rm -f "$WORK/curl.bin"
# The agent also verifies sha256 and fsyncs before publishing: time curl doing the same.
V0=$(date +%s.%N)
curl -sS "$URL" | tee "$WORK/curl.bin" | sha256sum >/dev/null
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$WORK/curl.bin"
V1=$(date +%s.%N)
CURLV_S=$(echo "$V1 - $V0" | bc -l)
rm -f "$WORK/curl.bin"

declare -A AG_S AG_RSS
for CONNS in 1 4; do
	rm -rf "$WORK/store"
	OUT=$("$WORK/downloadbench" fetch -url "$URL" -dir "$WORK/store" -conns "$CONNS" -sha "$SHA")
	AG_S[$CONNS]=$(sed -E 's/.*seconds=([0-9.]+).*/\1/' <<<"$OUT")
	AG_RSS[$CONNS]=$(sed -E 's/.*peak_rss_kib=([0-9]+).*/\1/' <<<"$OUT")
done
rm -rf "$WORK/store"

mibs() { echo "scale=1; $SIZE_MIB / $1" | bc -l; }
printf "%-34s %8s %8s %13s %8s %13s\n" "client (${SIZE_MIB} MiB, loopback)" "seconds" "MiB/s" "peak RSS MiB" "vs curl" "vs curl+sha"
printf "%-34s %8.2f %8s %13.1f %8s %13s\n" "curl -o file" "$CURL_S" "$(mibs "$CURL_S")" "$(echo "$CURL_RSS/1024" | bc -l)" "1.00" "-"
printf "%-34s %8.2f %8s %13s %8.2f %13s\n" "curl | tee | sha256sum, fsync" "$CURLV_S" "$(mibs "$CURLV_S")" "-" "$(echo "$CURL_S / $CURLV_S" | bc -l)" "1.00"
for CONNS in 1 4; do
	printf "%-34s %8.2f %8s %13.1f %8.2f %13.2f\n" "agent, $CONNS conn (sha256, fsync)" "${AG_S[$CONNS]}" "$(mibs "${AG_S[$CONNS]}")" \
		"$(echo "${AG_RSS[$CONNS]}/1024" | bc -l)" "$(echo "$CURL_S / ${AG_S[$CONNS]}" | bc -l)" "$(echo "$CURLV_S / ${AG_S[$CONNS]}" | bc -l)"
done
[ "$CURL_SHA" = "$SHA" ] || echo "warning: curl's sha256 differs from the server's" >&2
