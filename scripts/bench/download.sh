#!/usr/bin/env bash
# Download throughput, side by side in one run: nginx (Debian's) serves one file on loopback,
# unthrottled and with `limit_rate 20m` per connection; curl, aria2c -x8 (and -x8 -s8) and the agent's
# downloader (the downloadbench helper: the real download package, sha256 verified, fsynced,
# published) fetch it in turn. Prints each time with the speed ratio to curl and to aria2c -x8
# (> 1: faster), the bytes nginx sent beyond the file (body_bytes_sent from its access log,
# summed per client, minus the file size: bytes fetched twice or past a segment) and the
# client's peak RSS.
#
# Usage: scripts/bench/download.sh [SIZE_MIB]   (default 512; the issue's reference is 2048)
# Env:   DOWNLOADBENCH=path  use a prebuilt downloadbench binary (e.g. one built from an older
#                            commit, to compare before/after); AGENT_ARGS="-conns 8" its flags.
#        MODES="free slow"   which nginx locations to run.
# Needs: go, nginx, aria2c, curl, python3, /usr/bin/time (apt-get install nginx aria2 curl
# time python3). Writes the file and one copy at a time under $TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE_MIB=${1:-512}
SIZE=$((SIZE_MIB * 1024 * 1024))
MODES=${MODES:-free slow}
AGENT_ARGS=${AGENT_ARGS:-}

missing=()
for tool in nginx aria2c curl python3 /usr/bin/time; do
	command -v "$tool" >/dev/null 2>&1 || [ -x "$tool" ] || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "missing: ${missing[*]}; install with: apt-get install nginx aria2 curl time python3" >&2
	exit 2
fi
NGINX=$(command -v nginx)

WORK=$(mktemp -d)
chmod 755 "$WORK"
NGINX_PID=
cleanup() {
	[ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

BENCH=${DOWNLOADBENCH:-}
if [ -z "$BENCH" ]; then
	go build -o "$WORK/downloadbench" ./agent/internal/models/download/downloadbench
	BENCH="$WORK/downloadbench"
fi

mkdir -p "$WORK/www" "$WORK/logs"
head -c "$SIZE" /dev/urandom >"$WORK/www/file.bin"
SHA=$(sha256sum "$WORK/www/file.bin" | cut -d' ' -f1)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cat >"$WORK/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log warn;
events { worker_connections 256; }
http {
	log_format bench '\$arg_client \$status \$body_bytes_sent "\$http_range"';
	access_log $WORK/logs/access.log bench;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000;
	types { application/octet-stream bin; }
	server {
		listen 127.0.0.1:$PORT;
		root $WORK/www;
		location /free/ { alias $WORK/www/; }
		location /slow/ { alias $WORK/www/; limit_rate 20m; }
	}
}
EOF
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/free/file.bin" -r 0-0 && break; sleep 0.1; done

# run NAME CMD...: times CMD, records seconds and peak RSS (KiB) in $WORK/NAME.{s,rss}.
run() {
	local name=$1
	shift
	local t0 t1
	t0=$(date +%s.%N)
	/usr/bin/time -f "%M" -o "$WORK/$name.rss" "$@" >"$WORK/$name.out" 2>&1 || {
		echo "$name failed:" >&2
		cat "$WORK/$name.out" >&2
		exit 1
	}
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l >"$WORK/$name.s"
}

# extra NAME: bytes nginx sent to requests tagged client=NAME beyond the file size.
extra() {
	awk -v c="$1" -v size="$SIZE" '$1 == c { n += $3 } END { print n - size }' "$WORK/logs/access.log"
}

check() {
	local got
	got=$(sha256sum "$1" | cut -d' ' -f1)
	[ "$got" = "$SHA" ] || {
		echo "$1: sha256 $got, want $SHA" >&2
		exit 1
	}
}

declare -A SECS RSS EXTRA CONNS
for MODE in $MODES; do
	URL="http://127.0.0.1:$PORT/$MODE/file.bin"
	NAME=curl-$MODE
	run "$NAME" curl -sS -o "$WORK/out.bin" "$URL?client=$NAME"
	check "$WORK/out.bin"
	rm -f "$WORK/out.bin"

	# curl, then fsync (coreutils sync FILE): the floor for a client that, like the agent,
	# makes the file durable before it is done; on a disk slower than loopback it is the disk.
	NAME=curlsync-$MODE
	run "$NAME" sh -c 'curl -sS -o "$1" "$2" && sync "$1"' sh "$WORK/out.bin" "$URL?client=$NAME"
	check "$WORK/out.bin"
	rm -f "$WORK/out.bin"

	# aria2c -x8 is the issue's reference (8 connections per server allowed, its default split
	# of 5); -s8 really opens 8.
	NAME=aria2c-$MODE
	run "$NAME" aria2c -q -x8 --file-allocation=none --allow-overwrite=true -d "$WORK" -o out.bin "$URL?client=$NAME"
	check "$WORK/out.bin"
	rm -f "$WORK/out.bin"

	NAME=aria2s8-$MODE
	run "$NAME" aria2c -q -x8 -s8 -k1M --file-allocation=none --allow-overwrite=true -d "$WORK" -o out.bin "$URL?client=$NAME"
	check "$WORK/out.bin"
	rm -f "$WORK/out.bin"

	NAME=agent-$MODE
	rm -rf "$WORK/store"
	# shellcheck disable=SC2086
	run "$NAME" "$BENCH" fetch -url "$URL?client=$NAME" -dir "$WORK/store" -sha "$SHA" $AGENT_ARGS
	check "$WORK/store/checkpoints/bench.safetensors"
	CONNS[$MODE]=$(sed -nE 's/.*connections=([0-9]+).*/\1/p' "$WORK/$NAME.out")
	rm -rf "$WORK/store"
	for c in curl curlsync aria2c aria2s8 agent; do
		SECS[$c-$MODE]=$(cat "$WORK/$c-$MODE.s")
		RSS[$c-$MODE]=$(cat "$WORK/$c-$MODE.rss")
		EXTRA[$c-$MODE]=$(extra "$c-$MODE")
	done
done

ratio() { echo "scale=2; $1 / $2" | bc -l; }
printf "%-10s %-26s %8s %8s %9s %10s %12s %9s\n" "nginx" "client (${SIZE_MIB} MiB)" "seconds" "MiB/s" "x curl" "x aria2c" "extra bytes" "RSS MiB"
for MODE in $MODES; do
	label=$MODE
	[ "$MODE" = slow ] && label="20m/conn"
	[ "$MODE" = free ] && label="no limit"
	for c in curl curlsync aria2c aria2s8 agent; do
		k=$c-$MODE
		desc=$c
		[ "$c" = curlsync ] && desc="curl + fsync"
		[ "$c" = aria2c ] && desc="aria2c -x8"
		[ "$c" = aria2s8 ] && desc="aria2c -x8 -s8"
		[ "$c" = agent ] && desc="agent (${CONNS[$MODE]:-?} conns, sha+fsync)"
		printf "%-10s %-26s %8.2f %8.1f %9.2f %10.2f %12d %9.1f\n" "$label" "$desc" "${SECS[$k]}" \
			"$(echo "$SIZE_MIB / ${SECS[$k]}" | bc -l)" "$(ratio "${SECS[curl-$MODE]}" "${SECS[$k]}")" \
			"$(ratio "${SECS[aria2c-$MODE]}" "${SECS[$k]}")" "${EXTRA[$k]}" "$(echo "${RSS[$k]} / 1024" | bc -l)"
	done
done
echo "x curl / x aria2c: speed relative to curl / aria2c -x8 in the same mode (> 1 is faster)."
